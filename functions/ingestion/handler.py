"""AWS Lambda entry point of the ingestion function. Built once per container, at import."""

from mangum import Mangum

from ingestion.app import app

handler = Mangum(app, lifespan="off")
