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


# A script's read token through CloudFront: origin access control signs every request (its SigV4
# Authorization replaces the caller's), so the token travels in X-Prism-Token; the viewer's address
# comes in CloudFront-Viewer-Address (PRISM_VIEWER_ADDRESS_HEADER, as the template sets it).
READ_TOKEN_BEHIND_CLOUDFRONT = r"""
import json, sys
from prism import bootstrap
from prism.config import get_settings
bootstrap.migrate_database(get_settings())
from identity.handler import handler as identity
from query.handler import handler as query
from chat.handler import handler as chat
from tests.support.function_url import function_url_event as event
from tests.support.lambda_context import LambdaContext

def call(handler, *args, **kwargs):
    return handler(event(*args, **kwargs), LambdaContext())

login = call(identity, "POST", "/api/auth/login", body={"email": sys.argv[1], "password": sys.argv[2]})
cookies = [c.split(";", 1)[0] for c in login.get("cookies", [])]
csrf = {"X-CSRF-Token": json.loads(login["body"])["csrf_token"]}
key = call(identity, "POST", "/api/keys", body={"kind": "read", "name": "notebook"}, cookies=cookies, headers=csrf)
token = {"X-Prism-Token": json.loads(key["body"])["token"]}
out = {
    "key": key,
    "session": call(identity, "GET", "/api/auth/session", headers=token),
    "summary": call(query, "GET", "/api/metrics/summary", headers=token),
    "logs": call(query, "GET", "/api/logs", query="limit=5", headers=token),
    "summary_without_token": call(query, "GET", "/api/metrics/summary"),
    "dashboard_write": call(query, "POST", "/api/dashboards", headers=token,
                            body={"name": "d", "spec": {"window": "1h", "panels": []}}),
    "chat": call(chat, "GET", "/api/conversations", headers=token),
    "audit": call(identity, "GET", "/api/audit", query="action=key.create", cookies=cookies),
}
print(json.dumps(out))
"""


def test_a_read_token_reads_the_query_api_through_cloudfront() -> None:
    import uuid

    from prism.adapters.postgres import drop_database

    from tests.support.function_url import VIEWER

    url = f"postgresql://postgres@127.0.0.1:5432/prism_cftoken_{uuid.uuid4().hex[:8]}"
    email, password = "admin@example.com", "first-admin-pw-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "PRISM_ENV": "cloud", "PRISM_DATABASE_URL": url, "PRISM_ADMIN_EMAIL": email,
           "PRISM_ADMIN_PASSWORD": password, "PRISM_CREDS_KEY": "Wm9vbGFuZGVyLXdvb2xhbmRlci13b29sYW5kZXItMTI=",
           "PRISM_INGEST_URL": "http://127.0.0.1:9", "PRISM_API_KEY": "k", "PRISM_DEMO_MODEL": "true",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PRISM_STATE_DIR": os.environ.get("TMPDIR", "/tmp"),
           "PRISM_RAW_STORE": "s3", "PRISM_RAW_BUCKET": "prism-test", "AWS_DEFAULT_REGION": "eu-west-1",
           "PRISM_VIEWER_ADDRESS_HEADER": "CloudFront-Viewer-Address"}  # fmt: skip
    try:
        proc = subprocess.run(
            [sys.executable, "-c", READ_TOKEN_BEHIND_CLOUDFRONT, email, password],
            capture_output=True, text=True, env=env, timeout=180,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        drop_database(url)

    def status(name: str) -> tuple[int, str | None]:
        body = json.loads(out[name]["body"])
        return out[name]["statusCode"], body.get("error", {}).get("code") if isinstance(body, dict) else None

    assert out["key"]["statusCode"] == 201, out["key"]
    # GIVEN every request signed by CloudFront (Authorization: AWS4-HMAC-SHA256 ...) and X-Prism-Token
    session = json.loads(out["session"]["body"])
    assert out["session"]["statusCode"] == 200 and session["user"]["email"] == email  # the token's user
    assert status("summary") == (200, None) and "requests" in out["summary"]["body"]
    assert status("logs") == (200, None)
    # WHEN it is missing: CloudFront's signature is no caller
    assert status("summary_without_token") == (401, "unauthenticated")
    # AND a token still only reads, and the chat is for signed-in users
    assert status("dashboard_write") == (403, "forbidden")
    assert status("chat") == (403, "forbidden")
    # AND the audit log has the viewer's address (CloudFront-Viewer-Address), not the edge's
    (created,) = json.loads(out["audit"]["body"])["items"]
    assert created["address"] == VIEWER
