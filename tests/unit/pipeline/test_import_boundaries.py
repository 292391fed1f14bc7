"""No psycopg, redis or boto3 import outside the adapters (the seed's own rule)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DRIVERS = {"psycopg", "psycopg_pool", "redis", "boto3", "botocore"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_drivers_only_in_adapters() -> None:
    offenders = []
    for path in (ROOT / "functions").rglob("*.py"):
        if "adapters" in path.parts:
            continue
        bad = _imports(path) & DRIVERS
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


FUNCTIONS = {"chat", "ingestion", "query", "writer"}
# What an adapter may take from a function: the model and ports it implements, the errors it raises.
IMPLEMENTED = {"chat.model", "chat.ports", "chat.errors"}


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_does_not_depend_on_the_functions() -> None:
    # GIVEN the shared core: prism, but for its adapters and its composition root
    core = ROOT / "functions" / "prism"
    adapters = core / "adapters"
    offenders = []
    for path in core.rglob("*.py"):
        if path.name == "bootstrap.py" and path.parent == core:
            continue
        imported = _modules(path)
        if adapters in path.parents:
            # an adapter implements a function's ports: it takes their model, nothing more
            bad = {m for m in imported if m.split(".")[0] in FUNCTIONS} - IMPLEMENTED
        else:
            bad = {m for m in imported if m.split(".")[0] in FUNCTIONS}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    # THEN no module of the core imports chat, ingestion, query or writer
    assert offenders == []


def test_the_check_would_catch_an_offender(tmp_path: Path) -> None:
    module = tmp_path / "x.py"
    module.write_text("import redis\nfrom psycopg import sql\n")
    assert _imports(module) >= {"redis", "psycopg"}
    module.write_text("from chat.service import ChatService\nimport query.app\nfrom chat.model import ReplyStats\n")
    assert _modules(module) - IMPLEMENTED == {"chat.service", "query.app"}


def test_ingestion_does_not_import_litellm() -> None:
    import subprocess
    import sys

    code = "import sys, ingestion.handler; print('litellm' in sys.modules)"
    env = {"PRISM_API_KEY": "k", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_only_the_composition_root_builds_adapters() -> None:
    # GIVEN every adapter class (and the migration runner) of a real technology
    adapters = ROOT / "functions" / "prism" / "adapters"
    builders = {"migrate"}
    for path in adapters.glob("*.py"):
        if path.name != "memory.py":  # the fakes are for tests to build
            tree = ast.parse(path.read_text())
            builders |= {n.name for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")}
    # WHEN the entry points and the functions' code are read THEN none builds one: prism.bootstrap does
    offenders = []
    for path in (ROOT / "functions").rglob("*.py"):
        if adapters in path.parents or (path.name == "bootstrap.py" and path.parent.name == "prism"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in builders:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert offenders == []
