"""AWS Lambda entry point of the ingestion function. Built once per container, at import."""

from mangum import Mangum

from ingestion.app import create_app

handler = Mangum(create_app(), lifespan="off")
