"""The processor: the Faust worker that runs each tenant's pipeline (`logway run processor`)."""
