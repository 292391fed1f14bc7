"""The context object AWS Lambda passes a handler (the fields the runtime sets), for invoking
handlers in-process the way the runtime does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    function_name: str = "prism-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:prism-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/prism-test"
    log_stream_name: str = "2026/01/01/[$LATEST]0123456789abcdef"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
