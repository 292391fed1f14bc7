"""AWS Lambda entry point of the query function. Built once per container, at import."""

from mangum import Mangum

from query.app import create_app

handler = Mangum(create_app(), lifespan="off")
