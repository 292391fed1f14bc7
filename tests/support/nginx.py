"""compose's web server (web/docker/nginx.conf) run by the machine's nginx, on loopback, a free port:
the same file, with the compose service names replaced by the test's upstreams.

with NginxOrigin(site_dir, {"chat": url, "query": url, "identity": url}) as web:
    httpx.get(web.url + "/api/models")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tests.support.net import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "web" / "docker" / "nginx.conf"
#: Where compose's nginx finds each function (the services of compose.yaml).
COMPOSE_UPSTREAMS = {"chat": "http://chat:8100", "query": "http://query:8102", "identity": "http://identity:8103"}


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


class NginxOrigin:
    def __init__(self, site: Path, upstreams: Mapping[str, str]) -> None:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed (apt-get install nginx-light)")
        self.binary = binary
        self.port = free_port()
        self.prefix = Path(tempfile.mkdtemp(prefix="prism-nginx-"))
        site_conf = CONF.read_text()
        replacements = {
            "listen 3001;": f"listen 127.0.0.1:{self.port};",
            "root /usr/share/nginx/html;": f"root {site};",
        }
        for service, compose_url in COMPOSE_UPSTREAMS.items():
            replacements[compose_url] = upstreams[service]
        for old, new in replacements.items():
            assert old in site_conf, f"{CONF} no longer has {old!r}"
            site_conf = site_conf.replace(old, new)
        (self.prefix / "site.conf").write_text(site_conf)
        temp = {name: self.prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir()
        (self.prefix / "nginx.conf").write_text(
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {self.prefix}/nginx.pid;\nerror_log {self.prefix}/error.log warn;\n"
            "events {}\nhttp {\n  include /etc/nginx/mime.types;\n  access_log off;\n"
            f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
            f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
            f"  scgi_temp_path {temp['scgi']};\n  include {self.prefix}/site.conf;\n}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> NginxOrigin:
        argv = [self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]
        check = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.prefix, ignore_errors=True)
