"""What each zip function of template.yaml ships: its packages and its requirements file.

``sam build`` runs ``functions/Makefile`` (``BuildMethod: makefile``) for the zip functions; each
target copies the function's own packages (never ``chat/``, the Dockerfiles or this file) and
installs ``functions/requirements/<function>.txt``. Those files are written here, from ``uv.lock``:

1. the third-party modules the function can import are found statically, following every import
   (function-level ones too, ``if TYPE_CHECKING:`` blocks excepted) from its entry modules through
   its packages;
2. they are mapped to distributions, and their dependency closure is read from ``uv.lock``;
3. ``uv export --frozen --no-dev`` writes the hash-pinned lock entries of that closure alone.

So a zip never carries ``uvicorn[standard]`` (uvloop, watchfiles, websockets, httptools: the
Lambda runtime speaks Mangum, not HTTP), litellm, ``localstack-client`` or a client only another
function uses. Modules reached only by local configurations (:data:`LOCAL_ONLY`) stay out.

    python functions/lambda_build.py            # rewrite functions/requirements/*.txt
    python functions/lambda_build.py --check    # exit 1 when a committed file is stale
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FUNCTIONS = Path(__file__).resolve().parent
ROOT = FUNCTIONS.parent
REQUIREMENTS = FUNCTIONS / "requirements"

#: Each zip function: its local packages and the modules the Lambda runtime imports first.
ZIPS: dict[str, dict[str, tuple[str, ...]]] = {
    "ingestion": {"packages": ("prism", "ingestion"), "entry": ("ingestion.handler",)},
    "query": {"packages": ("prism", "query"), "entry": ("query.handler",)},
    "identity": {"packages": ("prism", "identity"), "entry": ("identity.handler",)},
    "writer": {"packages": ("prism", "writer"), "entry": ("writer.handler", "writer.migrations_resource")},
}

#: Third-party modules behind settings the AWS stack never uses: the Redis Streams bus and Redis
#: rate-limit counters (``PRISM_BUS=kinesis`` and ``memory://`` there), Presidio (an opt-in extra).
LOCAL_ONLY = frozenset({"redis", "presidio_analyzer", "presidio_anonymizer"})

LOCAL_PACKAGES = frozenset({"prism", "ingestion", "query", "identity", "writer", "chat", "prism_sdk"})


def _module_file(module: str) -> Path | None:
    base = FUNCTIONS.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module named by an import statement of ``tree`` (absolute names)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts if is_package else parts[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            yield prefix
            yield from (f"{prefix}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def third_party_modules(entry: Iterable[str], packages: Iterable[str]) -> set[str]:
    """Top-level names of the third-party modules reachable from ``entry`` within ``packages``."""
    own = set(packages)
    seen: set[str] = set()
    found: set[str] = set()
    todo = list(entry)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        if top not in LOCAL_PACKAGES:
            if top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
            continue
        if top not in own:
            continue  # another function's package (the chat's store in prism.adapters): not shipped
        path = _module_file(module)
        if path is None:
            continue  # ``from pkg import name``: a name, not a module
        tree = ast.parse(path.read_text(), str(path))
        todo.extend(_imports(tree, module, path.name == "__init__.py"))
    return found - LOCAL_ONLY


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(modules: Iterable[str]) -> set[str]:
    """The installed distributions that provide ``modules`` (normalised names)."""
    providers = importlib.metadata.packages_distributions()
    out: set[str] = set()
    for module in modules:
        names = providers.get(module)
        if not names:
            raise ValueError(f"no installed distribution provides {module!r}")
        out.update(_norm(n) for n in names)
    return out


def _requested_extras() -> dict[str, set[str]]:
    """The extras prism-functions asks of each dependency (``psycopg[binary,pool]``)."""
    pyproject = tomllib.loads((FUNCTIONS / "pyproject.toml").read_text())
    extras: dict[str, set[str]] = {}
    for spec in pyproject["project"]["dependencies"]:
        match = re.match(r"^([A-Za-z0-9._-]+)(?:\[([^\]]+)\])?", spec)
        assert match
        extras[_norm(match.group(1))] = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return extras


def closure_of(roots: Iterable[str], lock: dict[str, Any]) -> set[str]:
    """``roots`` with the extras pyproject requests, and their dependencies, from ``uv.lock``."""
    packages = {_norm(p["name"]): p for p in lock["package"]}
    wanted = _requested_extras()
    closure: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(_norm(r), frozenset(wanted.get(_norm(r), ()))) for r in roots]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        closure.add(name)
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for extra in extras:
            deps.extend(package.get("optional-dependencies", {}).get(extra, []))
        todo.extend((_norm(d["name"]), frozenset(d.get("extra", ()))) for d in deps)
    return closure


def export(function: str, lock: dict[str, Any], uv: str = "uv") -> str:
    """The requirements file of ``function``: ``uv export`` of the lock, other packages left out."""
    spec = ZIPS[function]
    keep = closure_of(distributions(third_party_modules(spec["entry"], spec["packages"])), lock)
    names = {_norm(p["name"]) for p in lock["package"]}
    omit = sorted(names - keep - {"prism-functions", "prism-sdk", "prism"})
    command = [
        uv, "export", "--frozen", "--no-dev", "--no-emit-workspace", "--package", "prism-functions",
        "--format", "requirements-txt", "--no-header", "--quiet",
    ]
    for name in omit:
        command += ["--no-emit-package", name]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120).stdout
    header = (
        f"# {function}'s zip (functions/Makefile installs it): generated by `python functions/lambda_build.py`\n"
        "# from uv.lock; do not edit.\n"
    )
    return header + out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when a committed file is stale")
    parser.add_argument("--uv", default="uv", help="the uv executable")
    args = parser.parse_args(argv)
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    stale = []
    REQUIREMENTS.mkdir(exist_ok=True)
    for function in ZIPS:
        text = export(function, lock, args.uv)
        path = REQUIREMENTS / f"{function}.txt"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
    if stale:
        print("stale: " + ", ".join(stale) + " (run `python functions/lambda_build.py`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
