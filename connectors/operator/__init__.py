"""The operator: `LoggingPipeline` resources reconciled through the same validate -> plan ->
apply -> publish path as `logway apply`, with status, events, an admission webhook and a
finalizer (kopf)."""
