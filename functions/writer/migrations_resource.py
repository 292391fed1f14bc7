"""The ``Migrations`` custom resource of template.yaml: CloudFormation calls this on every deploy that
changes the code or the database secret, and the deploy fails (and rolls back) when the migrations
fail.

CloudFormation's contract (the one ``cfnresponse`` implements): the event carries ``RequestType``
(``Create``, ``Update`` or ``Delete``) and a pre-signed S3 ``ResponseURL``; the function answers by
a ``PUT`` of a JSON document with ``Status`` ``SUCCESS`` or ``FAILED`` to that URL, whatever
happens, or the stack waits for an hour. So:

- ``Create`` / ``Update``: apply pending migrations (idempotent, under an advisory lock), answer
  ``SUCCESS`` with the schema profile, or ``FAILED`` with the reason;
- ``Delete``: nothing to undo (the database outlives the stack), answer ``SUCCESS``;
- migrations still running shortly before the function's timeout: answer ``FAILED`` then, rather
  than leave CloudFormation waiting.

The physical id is stable (the logical id), so an update never looks like a replacement, which
would send a ``Delete`` of the old id.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from prism import bootstrap
from prism.config import get_settings
from prism.logs import setup_logging

log = logging.getLogger(__name__)
logger = setup_logging("prism-migrations")

SUCCESS = "SUCCESS"
FAILED = "FAILED"
#: Answer FAILED this long before the function's own timeout, while there is time to send it.
SAFETY_MS = 10_000
#: CloudFormation keeps at most 4 KB of a response; the reason is cut well below.
MAX_REASON = 1000


def migrate() -> dict[str, str]:
    """Apply pending migrations; the data CloudFormation may read with ``Fn::GetAtt``."""
    get_settings.cache_clear()  # a new SecretsRevision or database URL is read afresh
    return {"Profile": bootstrap.migrate_database(get_settings())}


def respond(event: dict[str, Any], status: str, reason: str, data: dict[str, str] | None = None,
            timeout_s: float = 30.0) -> None:
    """``PUT`` the response document to the pre-signed ``ResponseURL`` (cfnresponse's shape)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:MAX_REASON],
            "PhysicalResourceId": event.get("PhysicalResourceId") or event.get("LogicalResourceId", "Migrations"),
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": data or {},
        }
    ).encode()
    url = event["ResponseURL"]
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ValueError(f"ResponseURL is not an HTTP(S) URL: {url[:40]!r}")
    # The URL is signed for no Content-Type: sending one would break the signature.
    headers = {"Content-Type": "", "Content-Length": str(len(body))}
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)  # noqa: S310 (checked above)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        log.info("answered %s to CloudFormation (HTTP %s)", status, response.status)


def _scrub(text: str) -> str:
    """``text`` without the database password (CloudFormation shows a reason to anyone who can read
    the stack's events)."""
    try:
        password = urllib.parse.urlsplit(get_settings().database_dsn).password
    except Exception:  # unreadable settings: nothing known to hide, nothing to fail for
        return text
    return text.replace(password, "***") if password else text


def handle(event: dict[str, Any], context: Any, run: Callable[[], dict[str, str]] = migrate) -> str:
    """Do what ``event`` asks and answer CloudFormation; returns the status sent."""
    kind = event.get("RequestType")
    if kind == "Delete":
        respond(event, SUCCESS, "nothing to undo: the database outlives the stack")
        return SUCCESS
    if kind not in ("Create", "Update"):
        respond(event, FAILED, f"unknown RequestType {kind!r}")
        return FAILED
    budget_s = max(1.0, (context.get_remaining_time_in_millis() - SAFETY_MS) / 1000)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        data = pool.submit(run).result(timeout=budget_s)
    except concurrent.futures.TimeoutError:
        log.error("migrations still running after %.0f s", budget_s)
        respond(event, FAILED, f"migrations did not finish within {budget_s:.0f} s (see the function's log)")
        return FAILED
    except Exception as exc:  # every failure must reach CloudFormation, or the stack hangs for an hour
        log.exception("migrations failed")
        respond(event, FAILED, _scrub(f"migrations failed: {type(exc).__name__}: {exc}"))
        return FAILED
    finally:
        pool.shutdown(wait=False)
    respond(event, SUCCESS, f"migrations applied (profile {data.get('Profile')})", data)
    return SUCCESS


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    return {"Status": handle(event, context)}
