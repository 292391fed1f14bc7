"""``python -m prism.migrate``: apply the SQL migrations to ``PRISM_DATABASE_URL``.

``PRISM_STORAGE_PROFILE``: ``auto`` (default: TimescaleDB when the server can enable it, plain
PostgreSQL otherwise), ``timescale`` (creates the extension; an error naming it when the server
cannot) or ``postgres``. A database keeps the profile it was first migrated with. Exit status 2 on a
configuration error, with the reason on stderr.
"""

from __future__ import annotations

import logging
import os
import sys

from prism.bootstrap import migrate_database
from prism.config import get_settings
from prism.errors import ConfigError
from prism.logs import setup_logging

log = logging.getLogger(__name__)


def main() -> None:
    setup_logging("prism-migrate")
    settings = get_settings()
    try:
        profile = migrate_database(settings, os.environ.get("PRISM_STORAGE_PROFILE", "auto"))
    except ConfigError as exc:
        log.error("migration refused: %s", exc.message)
        print(f"prism.migrate: {exc.message}", file=sys.stderr)
        sys.exit(2)
    print(f"migrations applied ({profile} profile)")


if __name__ == "__main__":
    main()
