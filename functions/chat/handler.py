"""Lambda entry point for the request/response routes (the stream route goes through the Lambda
Web Adapter: see docs/architecture.md). Clients are built at module scope, in ``chat.app``; every
log line of an invocation carries its request id (``prism.logs``)."""

from mangum import Mangum
from prism.logs import setup_logging

from chat.app import app

handler = setup_logging("prism-chat").inject_lambda_context(Mangum(app), clear_state=True)
