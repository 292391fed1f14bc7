"""The chat's Mangum handler with a Function URL event as CloudFront forwards it (issue 12): signed
by origin access control, the session cookie, the body's x-amz-content-sha256."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHAT_BEHIND_CLOUDFRONT = r"""
import json, sys
from prism import bootstrap
from prism.config import get_settings
bootstrap.migrate_database(get_settings())
from identity.handler import handler as identity
from chat.handler import handler as chat
from tests.support.function_url import function_url_event as event
from tests.support.lambda_context import LambdaContext

credentials = {"email": sys.argv[1], "password": sys.argv[2]}
login = identity(event("POST", "/api/auth/login", body=credentials), LambdaContext())
cookies = [c.split(";", 1)[0] for c in login.get("cookies", [])]
csrf = json.loads(login["body"])["csrf_token"]
headers = {"X-CSRF-Token": csrf}
out = {
    "create": chat(event("POST", "/api/conversations", body={"title": "through CloudFront"}, cookies=cookies,
                         headers=headers), LambdaContext()),
    "list": chat(event("GET", "/api/conversations", cookies=cookies), LambdaContext()),
}
print(json.dumps(out))
"""


def test_chat_handler_serves_what_cloudfront_forwards() -> None:
    import uuid

    from prism.adapters.postgres import drop_database

    url = f"postgresql://postgres@127.0.0.1:5432/prism_cfchat_{uuid.uuid4().hex[:8]}"
    email, password = "admin@example.com", "first-admin-pw-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "PRISM_ENV": "cloud", "PRISM_DATABASE_URL": url, "PRISM_ADMIN_EMAIL": email,
           "PRISM_ADMIN_PASSWORD": password, "PRISM_CREDS_KEY": "Wm9vbGFuZGVyLXdvb2xhbmRlci13b29sYW5kZXItMTI=",
           "PRISM_INGEST_URL": "http://127.0.0.1:9", "PRISM_API_KEY": "k", "PRISM_DEMO_MODEL": "true",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PRISM_STATE_DIR": os.environ.get("TMPDIR", "/tmp")}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHAT_BEHIND_CLOUDFRONT, email, password],
            capture_output=True, text=True, env=env, timeout=180,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        drop_database(url)
    assert out["create"]["statusCode"] == 201, out["create"]
    created = json.loads(out["create"]["body"])
    assert out["list"]["statusCode"] == 200
    assert created["id"] in out["list"]["body"]
