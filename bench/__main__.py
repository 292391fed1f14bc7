"""``make bench``: every benchmark, one table each. Not part of the test run.

    uv run python -m bench [pipeline|sdk|chat|query|redaction|proxy ...]
"""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "pipeline": "bench.pipeline_bench",
    "sdk": "bench.sdk_bench",
    "chat": "bench.chat_bench",
    "query": "bench.query_bench",
    "redaction": "bench.redaction_bench",
    "proxy": "bench.proxy_bench",
}


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHES)
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(BENCHES[name])
        saved = sys.argv
        sys.argv = [BENCHES[name]]
        try:
            module.main()
        finally:
            sys.argv = saved


if __name__ == "__main__":
    main()
