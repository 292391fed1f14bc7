"""AWS Lambda entry point of the query function. Built once per container, at import; every log
line of an invocation carries its request id (``prism.logs``)."""

from mangum import Mangum
from prism.logs import setup_logging

from query.app import app

handler = setup_logging("prism-query").inject_lambda_context(Mangum(app, lifespan="off"), clear_state=True)
