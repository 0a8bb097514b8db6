"""The retention worker: each tenant's storage measured, its old days deleted."""
