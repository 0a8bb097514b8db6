"""The processor: Faust agents that turn each tenant's raw records into documents or dead letters."""
