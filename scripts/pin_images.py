"""Pin every image Prism runs or builds from to its digest: ``name:tag`` becomes ``name:tag@sha256:...``.

    make pin-images                                  # rewrite compose.yaml and the Dockerfiles in place
    ./scripts/uv run --frozen python scripts/pin_images.py --check   # exit 1 if one is unpinned or moved
    ./scripts/uv run --frozen python scripts/pin_images.py FILE...   # only these files

The references are each ``image:`` of compose.yaml that names a registry image (not the
``prism-*:${PRISM_IMAGE_TAG}`` images compose builds) and each ``FROM`` of the Dockerfiles that is
not an earlier stage; a ``FROM ${ARG}`` pins the ARG's default. The tag stays, for readers and for
the next run: each run asks the registry for the tag's digest again and rewrites a stale one.

The digest is the registry's answer to ``HEAD /v2/<repository>/manifests/<tag>`` over the OCI
Distribution API (its ``Docker-Content-Digest``; without that header, the sha256 of the manifest a
GET returns), accepting an OCI image index or a Docker manifest list first, so a multi-platform tag
pins the index, not one platform's manifest. Access is anonymous: a registry that answers 401 names
its token service in ``WWW-Authenticate`` (Docker Hub: auth.docker.io) and grants a pull token.
Every reference is resolved before any file is written, so an error leaves the files as they were.

Exit status: 0 done (``--check``: every reference pinned at its tag's current digest); 1 ``--check``
found references without a digest or whose digest moved (listed; nothing written); 2 an error (a
registry unreachable, a tag unknown, a reference that cannot be pinned), in one line on stderr.

``--registry-override REGISTRY=URL`` (repeatable) sends one registry's requests to another base URL,
for example ``docker.io=http://127.0.0.1:5000``; the tests use it to point at a fake registry.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = (
    ROOT / "compose.yaml",
    ROOT / "functions" / "Dockerfile",
    ROOT / "functions" / "Dockerfile.chat",
    ROOT / "web" / "Dockerfile",
)

#: Index types first: a multi-platform tag resolves to its index (the digest `docker pull` pins).
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
TIMEOUT_S = 15.0


class PinError(Exception):
    """Something that stops the run: printed as one line, exit status 2."""


# ---------------------------------------------------------------- references


@dataclass(frozen=True)
class Reference:
    """``name:tag[@digest]``; ``registry`` and ``repository`` are where the API finds it."""

    name: str
    tag: str
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest, _, digest = text.partition("@")
        if digest and not DIGEST.fullmatch(digest):
            raise PinError(f"{text}: the digest is not sha256:<64 hex digits>")
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon <= slash:
            raise PinError(f"{text}: no tag (name the release to pin, as name:tag)")
        return cls(rest[:colon], rest[colon + 1 :], digest or None)

    @property
    def tagged(self) -> str:
        return f"{self.name}:{self.tag}"

    def _host_and_path(self) -> tuple[str | None, str]:
        first, sep, rest = self.name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            return first, rest
        return None, self.name

    @property
    def registry(self) -> str:
        host, _ = self._host_and_path()
        return DOCKER_HUB if host in {None, "index.docker.io"} else str(host)

    @property
    def repository(self) -> str:
        _, repository = self._host_and_path()
        if self.registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"  # Docker Hub's official images
        return repository

    def pinned(self, digest: str) -> str:
        return f"{self.tagged}@{digest}"


@dataclass(frozen=True)
class Site:
    """One reference as written: in ``path``, line ``line`` (0-based), columns ``start:end``."""

    path: Path
    line: int
    start: int
    end: int
    ref: Reference

    def where(self) -> str:
        try:
            shown = self.path.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line + 1}"


# `image: name:tag` (optionally quoted, or after an anchor `&name`); values with `${...}` are the
# images compose builds, `*alias` reuses another.
_COMPOSE_IMAGE = re.compile(r"""^\s*(?:-\s+)?image:\s+(?:&\S+\s+)?(["']?)(?P<ref>[^\s"'#]+)\1\s*(?:#.*)?$""")
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<ref>\S+)(?:\s+AS\s+(?P<stage>\S+))?\s*$", re.IGNORECASE)
_ARG = re.compile(r"""^\s*ARG\s+(?P<name>\w+)=(["']?)(?P<value>[^\s"']+)\2\s*$""", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def _compose_sites(path: Path, lines: Sequence[str]) -> Iterable[Site]:
    for number, line in enumerate(lines):
        match = _COMPOSE_IMAGE.match(line)
        if match is None:
            continue
        text = match.group("ref")
        if "$" in text or text.startswith("*"):
            continue  # an image compose builds (prism-*:${PRISM_IMAGE_TAG}), or an alias of one
        yield Site(path, number, match.start("ref"), match.end("ref"), Reference.parse(text))


def _dockerfile_sites(path: Path, lines: Sequence[str]) -> Iterable[Site]:
    stages: set[str] = set()
    args: dict[str, tuple[int, re.Match[str]]] = {}
    pinned_args: set[int] = set()
    for number, line in enumerate(lines):
        arg = _ARG.match(line)
        if arg is not None:
            if not stages:  # a global ARG (before the first FROM) can name an image
                args[arg.group("name")] = (number, arg)
            continue
        match = _FROM.match(line)
        if match is None:
            continue
        text, stage = match.group("ref"), match.group("stage")
        earlier = text.lower() in stages or text == "scratch"
        stages.add((stage or str(len(stages))).lower())
        if earlier:
            continue
        variable = _VARIABLE.fullmatch(text)
        if variable is not None and variable.group(1) in args:
            number, arg = args[variable.group(1)]
            text = arg.group("value")
            if "$" in text:
                raise PinError(f"{path}:{number + 1}: ARG {arg.group('name')}={text}: not a literal image")
            if number not in pinned_args:
                pinned_args.add(number)
                yield Site(path, number, arg.start("value"), arg.end("value"), Reference.parse(text))
            continue
        if "$" in text:
            raise PinError(f"{path}:{number + 1}: FROM {text}: a variable without a literal ARG default")
        yield Site(path, number, match.start("ref"), match.end("ref"), Reference.parse(text))


def find_sites(path: Path, lines: Sequence[str]) -> list[Site]:
    if path.suffix in {".yaml", ".yml"}:
        return list(_compose_sites(path, lines))
    if path.name.startswith("Dockerfile") or path.suffix == ".Dockerfile":
        return sorted(_dockerfile_sites(path, lines), key=lambda site: site.line)
    raise PinError(f"{path}: neither a compose file (.yaml) nor a Dockerfile")


# ---------------------------------------------------------------- the registry


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


class Registries:
    """Resolves tags to digests, anonymously, once per reference."""

    def __init__(self, client: httpx.Client, overrides: dict[str, str]) -> None:
        self._client = client
        self._overrides = overrides
        self._digests: dict[tuple[str, str, str], str] = {}

    def base_url(self, registry: str) -> str:
        if registry in self._overrides:
            return self._overrides[registry].rstrip("/")
        return f"https://{DOCKER_HUB_API if registry == DOCKER_HUB else registry}"

    def digest(self, ref: Reference) -> str:
        key = (ref.registry, ref.repository, ref.tag)
        if key not in self._digests:
            try:
                self._digests[key] = self._resolve(ref)
            except httpx.HTTPError as exc:
                raise PinError(
                    f"{ref.tagged}: registry {ref.registry} unreachable ({type(exc).__name__}: {exc})"
                ) from exc
        return self._digests[key]

    def _resolve(self, ref: Reference) -> str:
        url = f"{self.base_url(ref.registry)}/v2/{ref.repository}/manifests/{ref.tag}"
        headers = {"Accept": ACCEPT}
        response = self._client.head(url, headers=headers)
        if response.status_code == 401:
            headers["Authorization"] = f"Bearer {self._token(ref, response)}"
            response = self._client.head(url, headers=headers)
        if response.status_code == 404:
            raise PinError(f"{ref.tagged}: tag unknown on {ref.registry} (HTTP 404 for {ref.repository}:{ref.tag})")
        if response.status_code != 200:
            raise PinError(f"{ref.tagged}: {ref.registry} answered HTTP {response.status_code} for its manifest")
        digest: str | None = response.headers.get("docker-content-digest")
        if digest is None:  # the header is optional in the spec: the digest of the manifest's bytes
            body = self._client.get(url, headers=headers)
            if body.status_code != 200:
                raise PinError(f"{ref.tagged}: {ref.registry} answered HTTP {body.status_code} for its manifest")
            digest = "sha256:" + hashlib.sha256(body.content).hexdigest()
        if not DIGEST.fullmatch(digest):
            raise PinError(f"{ref.tagged}: {ref.registry} sent a digest that is not sha256:<64 hex>: {digest!r}")
        return digest

    def _token(self, ref: Reference, refused: httpx.Response) -> str:
        scheme, params = _challenge(refused.headers.get("www-authenticate", ""))
        if scheme != "bearer" or "realm" not in params:
            raise PinError(f"{ref.tagged}: {ref.registry} wants credentials (no anonymous pull token offered)")
        query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        response = self._client.get(params["realm"], params=query)
        if response.status_code != 200:
            raise PinError(f"{ref.tagged}: {params['realm']} refused a pull token (HTTP {response.status_code})")
        try:
            body: object = response.json()
        except ValueError:
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PinError(f"{ref.tagged}: {params['realm']} answered without a token")
        return token


# ---------------------------------------------------------------- the run


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for pair in pairs:
        registry, sep, url = pair.partition("=")
        if not sep or not registry or not url.startswith(("http://", "https://")):
            raise PinError(f"--registry-override {pair}: expected REGISTRY=http(s)://host[:port]")
        overrides[registry] = url
    return overrides


def run(files: Sequence[Path], *, check: bool, overrides: dict[str, str], out: list[str]) -> int:
    originals: dict[Path, str] = {}
    texts: dict[Path, list[str]] = {}
    sites: list[Site] = []
    for path in files:
        try:
            originals[path] = path.read_text()
        except OSError as exc:
            raise PinError(f"{path}: {exc.strerror or exc}") from exc
        texts[path] = originals[path].splitlines(keepends=True)
        sites.extend(find_sites(path, texts[path]))

    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=True) as client:
        registries = Registries(client, overrides)
        resolved = [(site, registries.digest(site.ref)) for site in sites]

    stale: list[str] = []
    for site, digest in resolved:
        if site.ref.digest == digest:
            state = "pinned"
        elif site.ref.digest is None:
            state = "no digest"
        else:
            state = f"digest moved from {site.ref.digest}"
        if check:
            if state != "pinned":
                stale.append(f"{site.where()}: {site.ref.tagged}: {state} (the tag is now {digest})")
            continue
        if state != "pinned":
            line = texts[site.path][site.line]
            texts[site.path][site.line] = line[: site.start] + site.ref.pinned(digest) + line[site.end :]
        done = {"pinned": "unchanged", "no digest": "pinned"}.get(state, f"updated, was {site.ref.digest}")
        out.append(f"{site.where()}: {site.ref.pinned(digest)} ({done})")

    if check:
        out.extend(stale or [f"all {len(resolved)} image references are pinned at their tags' digests"])
        return 1 if stale else 0
    for path, lines in texts.items():
        text = "".join(lines)
        if text != originals[path]:
            temporary = path.with_name(f".{path.name}.pin-images")
            temporary.write_text(text)
            os.chmod(temporary, path.stat().st_mode)
            os.replace(temporary, path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", type=Path, help="compose files and Dockerfiles (default: Prism's)")
    parser.add_argument("--check", action="store_true", help="list unpinned or moved references, exit 1 if any")
    parser.add_argument(
        "--registry-override",
        action="append",
        default=[],
        metavar="REGISTRY=URL",
        help="send REGISTRY's requests (docker.io, ghcr.io, ...) to URL instead (tests: a fake registry)",
    )
    args = parser.parse_args(argv)
    out: list[str] = []
    try:
        status = run(
            args.files or DEFAULT_FILES,
            check=args.check,
            overrides=_overrides(args.registry_override),
            out=out,
        )
    except PinError as exc:
        print("pin-images:", " ".join(str(exc).split()), file=sys.stderr)  # one line, whatever a driver said
        return 2
    print("\n".join(out))
    return status


if __name__ == "__main__":
    sys.exit(main())
