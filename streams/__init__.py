"""The processor: Faust agents turning each tenant's raw records into documents or dead letters."""
