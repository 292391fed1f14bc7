"""Lambda entry point for the request/response routes (the stream route goes through the Lambda
Web Adapter: see docs/architecture.md). Clients are built at module scope, in ``chat.app``."""

from mangum import Mangum

from chat.app import app

handler = Mangum(app)
