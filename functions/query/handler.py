"""AWS Lambda entry point of the query function. Built once per container, at import."""

from mangum import Mangum

from query.app import app

handler = Mangum(app, lifespan="off")
