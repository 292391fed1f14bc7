"""``python -m prism.migrate``: apply the SQL migrations to ``PRISM_DATABASE_URL``."""

from __future__ import annotations

import logging
import os

from prism.adapters.postgres import migrate
from prism.config import get_settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    profile = migrate(
        settings.database_dsn,
        profile=os.environ.get("PRISM_STORAGE_PROFILE", "auto"),
        partitions_ahead_days=settings.partitions_ahead_days,
        retention_days=settings.retention_days,
    )
    print(f"migrations applied ({profile} profile)")


if __name__ == "__main__":
    main()
