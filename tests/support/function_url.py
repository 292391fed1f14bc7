"""Lambda Function URL events (payload format 2.0) shaped as CloudFront forwards a browser's
request through origin access control: signed by CloudFront (SigV4 headers, the IAM caller in
``requestContext.authorizer.iam``), the Function URL's own ``Host``, cookies in ``cookies``, the
body's ``x-amz-content-sha256``, the viewer's address, and no ``Origin`` on a same-origin call
(template.yaml's ApiSameOriginFunction drops it)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

URL_HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws"
VIEWER = "203.0.113.7"
ACCOUNT = "123456789012"


def function_url_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Any = None,
    cookies: list[str] | None = None,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    digest = hashlib.sha256(raw).hexdigest()
    request_id = str(uuid.uuid4())
    all_headers = {
        "host": URL_HOST,
        "x-amz-date": "20260101T120000Z",
        "x-amz-content-sha256": digest,
        "x-amz-security-token": "IQoJb3JpZ2luX2VjEXAMPLE",
        "authorization": (
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/eu-west-1/lambda/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=0123abcd"
        ),
        "via": "2.0 0123456789abcdef.cloudfront.net (CloudFront)",
        "x-amz-cf-id": "Xy1ExampleCloudFrontRequestId==",
        "x-forwarded-for": VIEWER,
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "cloudfront-viewer-address": f"{VIEWER}:51234",
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0",
        "accept": "application/json",
        "sec-fetch-site": "same-origin",
        "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
    }
    if body is not None:
        all_headers["content-type"] = "application/json"
        all_headers["content-length"] = str(len(raw))
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": URL_HOST.split(".")[0],
            "authorizer": {
                "iam": {
                    "accessKey": "ASIAEXAMPLE",
                    "accountId": ACCOUNT,
                    "callerId": "AROAEXAMPLE:CloudFront",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/CloudFrontOAC/CloudFront",
                    "userId": "AROAEXAMPLE:CloudFront",
                }
            },
            "domainName": URL_HOST,
            "domainPrefix": URL_HOST.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "130.176.0.1",  # CloudFront's edge, not the viewer
                "userAgent": all_headers["user-agent"],
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:12:00:00 +0000",
            "timeEpoch": 1767268800000,
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = base64.b64encode(raw).decode() if base64_body else raw.decode()
    return event
