"""Filesystem adapter of the RawPayloadStore: ``file://`` URIs under one root folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from prism.errors import RawPayloadNotFoundError, StoreError
from prism.ports import DeadLetter


class FileRawPayloadStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def put(self, key: str, data: bytes) -> str:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StoreError(f"key escapes the store: {key}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a reader never sees half a payload
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc}") from exc
        return path.as_uri()

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        return [self.put(k, d) for k, d in items]

    def get(self, uri: str) -> bytes:
        if not uri.startswith("file://"):
            raise StoreError(f"not a file:// URI: {uri}")
        path = Path(uri[7:]).resolve()
        if self.root not in path.parents:
            raise StoreError(f"URI outside the store: {uri}")
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise RawPayloadNotFoundError(f"no raw payload at {uri}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"raw payload folder {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"raw payload folder {self.root} is not writable")


class FileDeadLetters:
    """The DeadLetterStore on disk (``PRISM_RAW_STORE=file``): ``<root>/<date>/<id>.json``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def put(self, letter: DeadLetter) -> str:
        path = self.root / letter.key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(letter.to_json())
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc}") from exc
        return letter.key

    def letters(self, limit: int = 1000) -> list[tuple[str, DeadLetter]]:
        paths = sorted(self.root.glob("*/*.json"))[:limit] if self.root.is_dir() else []
        return [(str(p.relative_to(self.root)), DeadLetter.from_json(p.read_bytes())) for p in paths]

    def remove(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)
