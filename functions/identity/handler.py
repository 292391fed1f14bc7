"""AWS Lambda entry point of the identity function. Built once per container, at import (Mangum runs
no lifespan: the first admin is ensured here)."""

import anyio
from mangum import Mangum

from identity.app import app, ensure_first_admin

anyio.run(ensure_first_admin, app)
handler = Mangum(app, lifespan="off")
