"""scripts/pin_images.py (`make pin-images`) against a fake OCI registry on 127.0.0.1: copies of
compose.yaml and the Dockerfiles are pinned to `name:tag@sha256:...` in place, a second run changes
nothing, a re-pushed tag is caught by --check and updated by the next run, and an unknown tag or an
unreachable registry ends the run with one line and exit 2, before any file is written.

The fake speaks the parts of the OCI Distribution API the script uses: a manifest request without a
token is refused with a Bearer challenge naming the token endpoint (as Docker Hub's names
auth.docker.io), which grants anonymous pull tokens; a manifest request that does not accept an
image index gets one platform's manifest instead (another digest), as a real registry would.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from scripts.pin_images import Reference, main

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "pin_images.py"
FILES = ("compose.yaml", "functions/Dockerfile", "functions/Dockerfile.chat", "web/Dockerfile")
REGISTRIES = ("docker.io", "ghcr.io", "public.ecr.aws")
INDEX = "application/vnd.oci.image.index.v1+json"
PINNED = re.compile(r"(?P<tagged>[\w.\-/:]+:[\w.\-]+)@(?P<digest>sha256:[0-9a-f]{64})")


@dataclass
class FakeRegistry:
    url: str = ""
    #: repository -> how many times its tags were re-pushed (each push is a new digest)
    pushes: dict[str, int] = field(default_factory=dict)
    unknown: set[tuple[str, str]] = field(default_factory=set)
    digest_header: bool = True
    anonymous: bool = True
    tokens: list[dict[str, str]] = field(default_factory=list)
    manifests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, repository, tag)

    def manifest(self, repository: str, tag: str, *, index: bool = True) -> bytes:
        media = INDEX if index else "application/vnd.oci.image.manifest.v1+json"
        body = {"mediaType": media, "repository": repository, "tag": tag, "push": self.pushes.get(repository, 0)}
        return json.dumps(body, sort_keys=True).encode()

    def digest(self, repository: str, tag: str) -> str:
        return "sha256:" + hashlib.sha256(self.manifest(repository, tag)).hexdigest()


def serve(registry: FakeRegistry) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/token":
                query = dict(urllib.parse.parse_qsl(url.query))
                registry.tokens.append(query)
                self.reply(200, json.dumps({"token": f"anon {query.get('scope')}"}).encode())
                return
            self.manifest(url.path)

        def do_HEAD(self) -> None:
            self.manifest(urllib.parse.urlsplit(self.path).path)

        def manifest(self, path: str) -> None:
            match = re.fullmatch(r"/v2/(?P<repository>.+)/manifests/(?P<tag>[^/]+)", path)
            if match is None:
                self.reply(404)
                return
            repository, tag = match["repository"], match["tag"]
            scope = f"repository:{repository}:pull"
            if self.headers.get("Authorization") != f"Bearer anon {scope}":
                challenge = (
                    f'Bearer realm="{registry.url}/token",service="fake-registry",scope="{scope}"'
                    if registry.anonymous
                    else 'Basic realm="fake-registry"'
                )
                self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
                return
            registry.manifests.append((self.command, repository, tag))
            if (repository, tag) in registry.unknown:
                self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                return
            index = INDEX in self.headers.get("Accept", "")
            body = registry.manifest(repository, tag, index=index)
            headers = {"Content-Type": json.loads(body)["mediaType"]}
            if registry.digest_header:
                headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
            self.reply(200, body, headers)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    registry.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    server = serve(fake)
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Copies of compose.yaml and the Dockerfiles, laid out as in the repository."""
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    return tmp_path


def pin(
    tree: Path, url: str, *args: str, files: tuple[str, ...] = FILES, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """The script on `files` in `tree`, every registry sent to `url`: in this process (fast), or as
    the command a user runs (`process`: its exit status and stderr exactly, a traceback included)."""
    argv = [*(arg for name in REGISTRIES for arg in ("--registry-override", f"{name}={url}")), *args, *files]
    if process:
        command = [sys.executable, str(SCRIPT), *argv]
        return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=60)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.chdir(tree), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    return subprocess.CompletedProcess(argv, status, stdout.getvalue(), stderr.getvalue())


def read(tree: Path) -> dict[str, str]:
    return {name: (tree / name).read_text() for name in FILES}


def repository(tagged: str) -> str:
    """The API's repository of `name:tag`, worked out here independently of the script."""
    name = tagged.rsplit(":", 1)[0]
    first, _, rest = name.partition("/")
    if "." in first:
        return rest
    return name if "/" in name else f"library/{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------- pinning


def test_every_image_of_compose_and_the_dockerfiles_is_pinned_in_place(tree: Path, registry: FakeRegistry) -> None:
    # GIVEN copies of the stack's files, whose images are tagged but not pinned
    before = read(tree)
    assert not any(PINNED.search(text) for text in before.values())

    # WHEN the script runs against the registry
    result = pin(tree, registry.url)

    # THEN it succeeds, and the only change is a digest after each reference's tag
    assert result.returncode == 0, result.stderr
    after = read(tree)
    for name in FILES:
        assert re.sub(r"@sha256:[0-9a-f]{64}", "", after[name]) == before[name], name
    pinned = [match for text in after.values() for match in PINNED.finditer(text)]
    # each digest is the tag's index digest on the registry (not a platform manifest's)
    for match in pinned:
        assert match["digest"] == registry.digest(repository(match["tagged"]), match["tagged"].rsplit(":", 1)[1])
    tagged = {match["tagged"] for match in pinned}
    # compose's registry images are pinned, the images compose builds keep their variable tag
    services = yaml.safe_load(after["compose.yaml"])["services"]
    for name, service in services.items():
        if "build" in service:
            assert "@" not in service["image"], name
        else:
            assert PINNED.fullmatch(service["image"]), (name, service["image"])
    # every FROM of a registry image (not an earlier stage), and the ARG a FROM ${...} names
    assert re.search(r"^ARG PYTHON_IMAGE=python:\S+@sha256:[0-9a-f]{64}$", after["functions/Dockerfile"], re.M)
    assert "FROM ${PYTHON_IMAGE} AS build" in after["functions/Dockerfile"]
    assert "FROM build AS build-functions" in after["functions/Dockerfile"]
    for name in FILES[1:]:
        for line in re.findall(r"^FROM\s+(\S+)", after[name], flags=re.M):
            assert PINNED.fullmatch(line) or "$" in line or ("/" not in line and ":" not in line), (name, line)
    assert len(tagged) >= 9, tagged
    assert {"ghcr.io/astral-sh/uv", "public.ecr.aws/lambda/python", "redis"} <= {t.rsplit(":", 1)[0] for t in tagged}
    # anonymous pull tokens from the challenge's realm, for the challenge's service and scope;
    # one question per distinct reference (uv and the Lambda base appear more than once)
    assert {"service": "fake-registry", "scope": "repository:library/redis:pull"} in registry.tokens
    heads = [(repo, tag) for method, repo, tag in registry.manifests if method == "HEAD"]
    assert len(heads) == len(set(heads)) == len(tagged)
    assert "pinned" in result.stdout and "compose.yaml:" in result.stdout


def test_a_second_run_changes_nothing_and_check_passes(tree: Path, registry: FakeRegistry) -> None:
    assert pin(tree, registry.url).returncode == 0
    once = read(tree)

    again = pin(tree, registry.url)
    check = pin(tree, registry.url, "--check")

    assert again.returncode == 0, again.stderr
    assert read(tree) == once
    assert "(pinned)" not in again.stdout and "(unchanged)" in again.stdout
    assert check.returncode == 0, check.stdout + check.stderr
    assert "are pinned" in check.stdout


def test_a_moved_digest_fails_check_and_the_next_run_updates_it(tree: Path, registry: FakeRegistry) -> None:
    # GIVEN pinned files, then redis's tag re-pushed on the registry (a new digest for the same tag)
    assert pin(tree, registry.url).returncode == 0
    pinned = read(tree)
    old = registry.digest("library/redis", "7.4.6-alpine")
    registry.pushes["library/redis"] = 1
    new = registry.digest("library/redis", "7.4.6-alpine")

    # WHEN checked: exit 1, naming redis, its old and new digest; nothing written
    check = pin(tree, registry.url, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert len(lines) == 1 and "redis:7.4.6-alpine" in lines[0], lines
    assert "moved" in lines[0] and old in lines[0] and new in lines[0]
    assert lines[0].startswith("compose.yaml:")
    assert read(tree) == pinned

    # WHEN run again: only redis's digest changes
    again = pin(tree, registry.url)
    assert again.returncode == 0, again.stderr
    assert f"redis:7.4.6-alpine@{new} (updated, was {old})" in again.stdout
    after = read(tree)
    assert after["compose.yaml"] == pinned["compose.yaml"].replace(old, new)
    assert old not in after["compose.yaml"] and new in after["compose.yaml"]
    assert {name: after[name] for name in FILES[1:]} == {name: pinned[name] for name in FILES[1:]}


def test_check_lists_every_reference_without_a_digest_and_writes_nothing(tree: Path, registry: FakeRegistry) -> None:
    before = read(tree)

    check = pin(tree, registry.url, "--check")

    assert check.returncode == 1
    lines = check.stdout.splitlines()
    assert len(lines) >= 11 and all("no digest" in line for line in lines), lines
    assert any(line.startswith("functions/Dockerfile.chat:") for line in lines)
    assert read(tree) == before


def test_a_manifest_without_a_digest_header_is_pinned_by_its_bytes(tree: Path, registry: FakeRegistry) -> None:
    registry.digest_header = False

    result = pin(tree, registry.url, files=("web/Dockerfile",))

    assert result.returncode == 0, result.stderr
    expected = registry.digest("library/node", "22.21.1-bookworm-slim")
    assert f"node:22.21.1-bookworm-slim@{expected}" in (tree / "web" / "Dockerfile").read_text()


# ---------------------------------------------------------------- errors: one line, exit 2, nothing written


def test_an_unknown_tag_stops_the_run_before_any_file_is_written(tree: Path, registry: FakeRegistry) -> None:
    # GIVEN a Dockerfile whose tag the registry does not have, after files that resolve fine
    dockerfile = tree / "web" / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("FROM nginxinc/nginx-unprivileged:", "FROM nginxinc/nginx-unprivileged:9")
    )
    tag = re.search(r"nginx-unprivileged:(\S+)", dockerfile.read_text())
    assert tag
    registry.unknown.add(("nginxinc/nginx-unprivileged", tag[1]))
    before = read(tree)

    result = pin(tree, registry.url, process=True)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("pin-images: nginxinc/nginx-unprivileged:9")
    assert "tag unknown on docker.io" in result.stderr
    assert read(tree) == before  # compose.yaml and the Dockerfiles before it resolved, but stay as they were


def test_an_unreachable_registry_is_one_line_and_exit_2(tree: Path) -> None:
    before = read(tree)

    result = pin(tree, f"http://127.0.0.1:{free_port()}", process=True)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "registry docker.io unreachable" in result.stderr
    assert read(tree) == before


def test_a_registry_that_offers_no_anonymous_token_is_one_line_and_exit_2(tree: Path, registry: FakeRegistry) -> None:
    registry.anonymous = False

    result = pin(tree, registry.url, files=("web/Dockerfile",))

    assert result.returncode == 2
    assert "wants credentials" in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    "text",
    ["redis", "redis:7@sha256:abc", "redis:${TAG:-7}x@sha256:" + "g" * 64],
)
def test_a_reference_that_cannot_be_pinned_is_refused(tree: Path, text: str) -> None:
    (tree / "Dockerfile").write_text(f"FROM {text}\nUSER 1\n")

    result = pin(tree, "http://127.0.0.1:1", files=("Dockerfile",))

    assert result.returncode == 2
    assert result.stderr.startswith("pin-images: ") and result.stderr.count("\n") == 1, result.stderr
    assert (tree / "Dockerfile").read_text() == f"FROM {text}\nUSER 1\n"


@pytest.mark.parametrize(
    ("text", "registry", "repository"),
    [
        ("redis:7.4.6-alpine", "docker.io", "library/redis"),
        ("timescale/timescaledb:2.28.2-pg17", "docker.io", "timescale/timescaledb"),
        ("docker.io/library/node:22", "docker.io", "library/node"),
        ("ghcr.io/astral-sh/uv:0.13.8", "ghcr.io", "astral-sh/uv"),
        ("localhost:5000/team/app:1@sha256:" + "a" * 64, "localhost:5000", "team/app"),
    ],
)
def test_references_name_their_registry_and_repository(text: str, registry: str, repository: str) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository) == (registry, repository)
    assert ref.pinned("sha256:" + "b" * 64) == f"{text.split('@')[0]}@sha256:{'b' * 64}"


def test_make_pin_images_runs_the_script_and_the_release_docs_show_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^pin-images:.*## .+\n\t(?P<recipe>.+)$", makefile, flags=re.M)
    assert target and "python scripts/pin_images.py" in target["recipe"] and "--check" in target["recipe"]
    assert "make pin-images" in (ROOT / "docs" / "deploy.md").read_text()
