"""The ingestion API's routes, one module per surface."""
