"""The filesystem RawPayloadStore and the .env bootstrap."""

from __future__ import annotations

from pathlib import Path

import pytest
from prism.adapters.files import FileRawPayloadStore
from prism.errors import RawPayloadNotFoundError, StoreError

from scripts.bootstrap_env import bootstrap, parse


def test_file_store_round_trip_and_refuses_escapes(tmp_path: Path) -> None:
    store = FileRawPayloadStore(tmp_path / "raw")
    uri = store.put("2026/11/27/07/abc.json", b'{"a": 1}')
    assert uri.startswith("file://") and store.get(uri) == b'{"a": 1}'
    with pytest.raises(StoreError):
        store.put("../../etc/passwd", b"x")
    with pytest.raises(StoreError):
        store.get("file:///etc/passwd")
    with pytest.raises(RawPayloadNotFoundError):
        store.get((tmp_path / "raw" / "missing.json").as_uri())
    store.ping()


def test_bootstrap_generates_secrets_once_and_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(
        "# comment\nPRISM_API_KEY=\nPRISM_CREDS_KEY=\nREDIS_PASSWORD=\nPRISM_REDACTOR=regex\n"
    )
    made = bootstrap(tmp_path)
    # The ones in the example, then the ones it lacks (an older .env.example or .env gains them).
    assert made[:3] == ["PRISM_API_KEY", "PRISM_CREDS_KEY", "REDIS_PASSWORD"]
    assert sorted(made[3:]) == ["POSTGRES_PASSWORD", "PRISM_ADMIN_PASSWORD", "PRISM_CHAT_API_KEY"]
    first = parse((tmp_path / ".env").read_text())
    assert all(first[k] for k in made) and first["PRISM_REDACTOR"] == "regex"
    assert len(__import__("base64").urlsafe_b64decode(first["PRISM_CREDS_KEY"])) == 32

    env = tmp_path / ".env"
    env.write_text(env.read_text().replace("PRISM_REDACTOR=regex", "PRISM_REDACTOR=presidio"))
    (tmp_path / ".env.example").write_text((tmp_path / ".env.example").read_text() + "PRISM_NEW=1\n")
    assert bootstrap(tmp_path) == []
    second = parse(env.read_text())
    assert {k: second[k] for k in made} == {k: first[k] for k in made}
    assert second["PRISM_REDACTOR"] == "presidio" and second["PRISM_NEW"] == "1"
    assert oct(env.stat().st_mode)[-3:] == "600"
