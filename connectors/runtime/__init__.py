"""What every worker runs on: following the tenants' topics, tracking and committing offsets
after the work is safe, and stopping on a signal. The client presets are in
`logway.core.kafka`."""
