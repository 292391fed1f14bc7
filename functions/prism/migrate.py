"""``python -m prism.migrate``: apply the SQL migrations to ``PRISM_DATABASE_URL``."""

from __future__ import annotations

import os

from prism.bootstrap import migrate_database
from prism.config import get_settings
from prism.logs import setup_logging


def main() -> None:
    setup_logging("prism-migrate")
    settings = get_settings()
    profile = migrate_database(settings, os.environ.get("PRISM_STORAGE_PROFILE", "auto"))
    print(f"migrations applied ({profile} profile)")


if __name__ == "__main__":
    main()
