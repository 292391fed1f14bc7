"""The README's configuration tables cannot drift from the code: GIVEN the settings models (the
functions', the chat's, the SDK's, the local stack's) and every ``PRISM_*`` name in the source,
THEN each variable has a row, each row names a variable that exists, and a default the README
states as a literal is the model's default. ``.env.example`` documents nothing the README lacks
and pins no derived value."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from chat.config import ChatSettings
from prism.config import Settings
from prism_sdk._config import Settings as SdkSettings
from pydantic_settings import BaseSettings

from scripts.local_config import DERIVED, LocalSettings

ROOT = Path(__file__).resolve().parents[3]
#: Documented, read outside the settings models (by the name next to it).
EXTERNAL = {
    "PRISM_STORAGE_PROFILE": "python -m prism.migrate",
    "PRISM_LOG_LEVEL": "prism.logs.setup_logging",
    "AWS_ENDPOINT_URL": "boto3 (prism.bootstrap), derived by scripts/local_config.py",
    "AWS_REGION": "boto3",
    "AWS_DEFAULT_REGION": "boto3",
    "AWS_ACCESS_KEY_ID": "boto3",
    "AWS_SECRET_ACCESS_KEY": "boto3",
    "LITELLM_LOCAL_MODEL_COST_MAP": "litellm",
    "REDIS_PASSWORD": "compose.yaml",
    "REDIS_MAXMEMORY": "compose.yaml",
    "POSTGRES_PASSWORD": "compose.yaml",
    "POSTGRES_PORT": "compose.yaml",
}
MISSING = object()


def model_defaults() -> dict[str, list[Any]]:
    """Every variable a settings model reads, with its default in each model that reads it."""
    out: dict[str, list[Any]] = {}
    models: list[type[BaseSettings]] = [Settings, ChatSettings, LocalSettings]
    for model in models:
        prefix = str(model.model_config.get("env_prefix", ""))
        for name, info in model.model_fields.items():
            var = (info.validation_alias if isinstance(info.validation_alias, str) else prefix + name).upper()
            out.setdefault(var, []).append(info.get_default(call_default_factory=True))
    for f in dataclasses.fields(SdkSettings):
        out.setdefault("PRISM_" + f.name.upper(), []).append(f.default)
    return out


def readme_rows() -> list[tuple[list[str], str]]:
    """(variables, default cell) of every table row in the README's Configuration section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows.append((re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]), cells[1]))
    return rows


def documented() -> set[str]:
    return {var for names, _ in readme_rows() for var in names}


def source_names() -> set[str]:
    """``PRISM_*`` names written in the code that runs (functions, SDK, scripts)."""
    names: set[str] = set()
    for tree in ("functions", "sdk/src", "scripts"):
        for path in (ROOT / tree).rglob("*.py"):
            names |= set(re.findall(r"\bPRISM_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


def as_doc(value: Any) -> str | None:
    """A model default as the README writes it; None for "no literal" (unset, generated)."""
    if value is None or value == "" or value is MISSING:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Path):
        return str(value.relative_to(ROOT)) if value.is_relative_to(ROOT) else str(value)
    return str(value)


def test_every_variable_the_code_reads_has_a_row() -> None:
    wanted = set(model_defaults()) | set(EXTERNAL) | source_names()
    missing = sorted(wanted - documented())
    assert not missing, f"add these to README.md's Configuration tables: {missing}"


def test_every_row_names_a_variable_that_exists() -> None:
    known = set(model_defaults()) | set(EXTERNAL) | source_names()
    stale = sorted(documented() - known)
    assert not stale, f"README.md documents variables no settings model reads: {stale}"


def test_literal_defaults_in_the_readme_are_the_models_defaults() -> None:
    defaults = model_defaults()
    wrong = []
    for names, cell in readme_rows():
        parts = [p.strip() for p in cell.split(" / ")]
        if len(parts) == 1 and len(names) > 1:
            parts *= len(names)  # one default for every variable of the row
        if len(parts) != len(names):
            wrong.append(f"{names}: {len(names)} variables but {len(parts)} defaults in {cell!r}")
            continue
        for var, part in zip(names, parts, strict=True):
            literal = re.fullmatch(r"`([^`]*)`", part)
            if literal is None or var not in defaults:
                continue  # prose ("generated", "derived: ...") or read outside the models
            for default in defaults[var]:
                expected = as_doc(default)
                if expected is not None and expected != literal.group(1):
                    wrong.append(f"{var}: README says {literal.group(1)!r}, the model {expected!r}")
    assert not wrong, "\n".join(wrong)


def test_env_example_is_documented_and_pins_no_derived_value() -> None:
    active, commented = set(), set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        if m := re.fullmatch(r"([A-Z][A-Z0-9_]+)=.*", line.strip()):
            active.add(m.group(1))
        elif m := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]+)=.*", line.strip()):
            commented.add(m.group(1))
    assert not sorted((active | commented) - documented())
    pinned = sorted(active & set(DERIVED))
    assert not pinned, f".env.example pins derived values (they must follow the ports): {pinned}"
    assert {"PRISM_INGEST_URL", "AWS_ENDPOINT_URL"} <= commented  # still shown, as documentation
