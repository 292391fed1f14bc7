"""AWS Lambda entry point of the ingestion function. Built once per container, at import; every log
line of an invocation carries its request id (``prism.logs``)."""

from mangum import Mangum
from prism.logs import setup_logging

from ingestion.app import app

handler = setup_logging("prism-ingestion").inject_lambda_context(Mangum(app, lifespan="off"), clear_state=True)
