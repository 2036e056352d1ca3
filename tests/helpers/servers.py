"""The tests' servers beyond bench.servers' harness: the development server, waitress, uWSGI,
mod_wsgi and nginx commands, tools a test requires, and what the tests read of servers (logs, workers,
gunicorn's settings)."""

import contextlib
import datetime
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gunicorn.config import Config

from bench.servers import Server
from bench.servers import answers
from bench.servers import children
from bench.servers import free_port
from bench.servers import stop
from bench.servers import wait_for
from tests.helpers.answer import NGINX_CONF
from tests.helpers.answer import SITE_NAME
from tests.helpers.oracle import ROOT

# Set by CI: a test that needs a tool which is missing fails instead of skipping.
REQUIRE_ALL = os.environ.get("WSGIAPP_REQUIRE_ALL") == "1"


def require(what: str, found: object, install: str) -> None:
    """Skip the test when found is falsy, saying how to install what is missing; fail under CI."""
    if found:
        return
    reason = f"{what} is not available ({install})"
    if REQUIRE_ALL:
        pytest.fail(f"{reason}, and WSGIAPP_REQUIRE_ALL=1 requires it", pytrace=False)
    pytest.skip(reason)


def require_executable(name: str, *places: str, install: str) -> str:
    """The path of a program, found on PATH or at one of places; skip or fail as require() does."""
    found = shutil.which(name) or next((place for place in places if os.access(place, os.X_OK)), None)
    require(name, found, install)
    return found


def devserver_command(port: int) -> list[str]:
    return [sys.executable, "wsgiapp.py", "--host", "127.0.0.1", "--port", str(port), "--no-reload"]


def waitress_command(port: int) -> list[str]:
    """`waitress-serve wsgiapp:application`, run from the repository root."""
    require("waitress", importlib.util.find_spec("waitress"), "pip install -e '.[test]'")
    return [sys.executable, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "wsgiapp:application"]


def debian_venv() -> Path:
    """A virtual environment of Debian's own python3 (/usr/bin/python3) with the project and mod_wsgi
    installed, named by WSGIAPP_DEBIAN_VENV (.ci/run makes it): Debian's uWSGI plugin embeds that
    Python, and Apache's mod_wsgi must be built against a Python its user `nobody` can read."""
    venv = Path(os.environ.get("WSGIAPP_DEBIAN_VENV", "/nonexistent"))
    require(
        "a virtual environment of Debian's python3 (WSGIAPP_DEBIAN_VENV)",
        (venv / "bin" / "python").exists(),
        "Debian: apt-get install python3-venv python3-dev apache2-dev; /usr/bin/python3 -m venv V;"
        " V/bin/pip install --no-cache-dir . mod_wsgi; chmod -R go+rX V; export WSGIAPP_DEBIAN_VENV=V",
    )
    return venv


def uwsgi_command(port: int, *load: str) -> list[str]:
    """uWSGI from Debian (uwsgi-core, uwsgi-plugin-python3), a master and 2 workers, loading the app
    as load says (--module wsgiapp:application, or --wsgi-file wsgiapp.py); SIGTERM stops it."""
    uwsgi = require_executable("uwsgi", install="Debian: apt-get install uwsgi-core uwsgi-plugin-python3")
    return [
        uwsgi,
        "--plugin",
        "python3",
        "--http-socket",
        f"127.0.0.1:{port}",
        "--master",
        "--processes",
        "2",
        "--die-on-term",
        "--need-app",
        "--virtualenv",
        str(debian_venv()),
        "--pythonpath",
        str(ROOT),
        *load,
    ]


def mod_wsgi_command(port: int, script: Path, server_root: Path) -> list[str]:
    """`mod_wsgi-express start-server` for script, in Apache (Debian's apache2), its log on stderr.
    As root, Apache runs the app as nobody: script, and server_root, must be readable by all."""
    require_executable("apache2", "/usr/sbin/apache2", install="Debian: apt-get install apache2 apache2-dev")
    express = debian_venv() / "bin" / "mod_wsgi-express"
    require("mod_wsgi-express", express.exists(), "pip install mod_wsgi in WSGIAPP_DEBIAN_VENV")
    as_root = ["--user", "nobody", "--group", "nogroup"] if os.geteuid() == 0 else []
    return [
        str(express),
        "start-server",
        str(script),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--server-root",
        str(server_root),
        "--log-to-terminal",
        "--locale",
        "C.UTF-8",
        *as_root,
    ]


def require_chromium() -> str:
    """The path of Chromium, once Playwright for Python is known to be installed too."""
    require("Playwright for Python", importlib.util.find_spec("playwright"), "pip install -e '.[test]'")
    return require_executable("chromium", install="Debian: apt-get install chromium")


# Gunicorn's access log with the answering worker's process id first, X-Forwarded-For last:
# `<1234> "GET / HTTP/1.1" 200 -`.
ACCESS_LOG_WITH_PID = ("--access-logformat", '%(p)s "%(r)s" %(s)s %({x-forwarded-for}i)s')


# A line of gunicorn's error log: `[2026-12-03 17:00:00 +0000] [1234] [INFO] message`.
GUNICORN_LINE = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[([A-Z]+)\] (.*)")


def app_lines(output: str) -> list[tuple[str, str]]:
    """(level, message) of each line the app logged ("wsgiapp: ..."), each of which must be in
    gunicorn's error-log format."""
    lines = [line for line in output.splitlines() if "wsgiapp: " in line]
    for line in lines:
        assert GUNICORN_LINE.fullmatch(line), f"not in gunicorn's format: {line!r}"
    return [GUNICORN_LINE.fullmatch(line).group(2, 3) for line in lines]


def booted_workers(server: Server) -> list[int]:
    """The process ids of the gunicorn workers booted so far, in order."""
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.output())]


def answering_workers(server: Server, request_line: str) -> dict[int, int]:
    """How many requests with this request line each worker answered (needs ACCESS_LOG_WITH_PID)."""
    counts: dict[int, int] = {}
    for pid in re.findall(rf'^<(\d+)> "{re.escape(request_line)} HTTP/1\.\d"', server.output(), re.M):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def require_nginx() -> str:
    return require_executable("nginx", "/usr/sbin/nginx", install="Debian: apt-get install nginx-light")


@dataclass
class Proxy:
    http_port: int
    https_port: int
    process: subprocess.Popen
    folder: Path

    @property
    def url(self) -> str:
        return f"https://{SITE_NAME}:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://{SITE_NAME}:{self.http_port}"

    def output(self) -> str:
        """nginx's error log so far (none before nginx has opened it)."""
        log = self.folder / "error.log"
        return log.read_text("utf-8", "replace") if log.exists() else ""


def replace_once(text: str, old: str, new: str) -> str:
    """Replace old, which must occur exactly once: the example and the test must not drift apart."""
    assert text.count(old) == 1, f"{NGINX_CONF.name} should contain {old!r} once"
    return text.replace(old, new)


def render_nginx_conf(upstream_ports: list[int], http_port: int, https_port: int, tls: Path) -> str:
    """deploy/nginx.conf with this test's ports and certificate in place of the example's."""
    text = NGINX_CONF.read_text("utf-8")
    example_ports = re.findall(r"^\s*server 127\.0\.0\.1:(\d+)", text, re.M)
    assert len(example_ports) == len(upstream_ports), example_ports
    for example_port, port in zip(example_ports, upstream_ports, strict=True):
        text = replace_once(text, f"server 127.0.0.1:{example_port}", f"server 127.0.0.1:{port}")
    # The site's servers, and the default servers that refuse every other name.
    for example_port, port in ((80, http_port), (443, https_port)):
        ssl_flag = " ssl" if example_port == 443 else ""
        for default in ("", " default_server"):
            text = replace_once(
                text,
                f"listen {example_port}{ssl_flag}{default};",
                f"listen 127.0.0.1:{port}{ssl_flag}{default};",
            )
    text = re.sub(r"ssl_certificate .*;", f"ssl_certificate {tls / 'cert.pem'};", text)
    return re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {tls / 'key.pem'};", text)


@contextlib.contextmanager
def run_nginx(nginx: str, upstream_ports: list[int], tls: Path) -> Iterator[Proxy]:
    """nginx in the foreground, its pid file, logs and temporary files in a folder of its own.

    tls holds cert.pem and key.pem for SITE_NAME (make_tls). The http context around the site
    holds what Debian's /etc/nginx/nginx.conf sets there, so that the site must override it, and
    must not set it again (nginx refuses a duplicate directive).
    """
    folder = Path(tempfile.mkdtemp(prefix="nginx-"))
    # Run as root, nginx's workers run as nobody: they must reach the temporary files.
    folder.chmod(0o755)
    http_port, https_port = free_port(), free_port()
    (folder / "site.conf").write_text(render_nginx_conf(upstream_ports, http_port, https_port, tls))
    temp_paths = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"pid {folder / 'nginx.pid'};\n"
        "worker_processes 1;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {folder / 'access.log'};\n"
        f"{temp_paths}\n"
        "    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n"
        "    ssl_prefer_server_ciphers on;\n"
        f"    include {folder / 'site.conf'};\n"
        "}\n"
    )
    command = [nginx, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]
    process = subprocess.Popen(
        [*command, "-g", "daemon off;"], stdin=subprocess.DEVNULL, start_new_session=True
    )
    proxy = Proxy(http_port, https_port, process, folder)
    try:
        # Any answer will do: the plain http server redirects.
        wait_for(lambda: answers(proxy.http_url + "/", process, proxy.output, status=None), 20, proxy.output)
        yield proxy
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def make_tls(folder: Path) -> ssl.SSLContext:
    """Write cert.pem and key.pem for SITE_NAME into folder, and ca.pem, their authority; return a
    client context that trusts it."""
    import trustme

    authority = trustme.CA()
    authority.cert_pem.write_to_path(folder / "ca.pem")
    # Valid for 90 days, as Let's Encrypt's are (testssl.sh rates a longer one HIGH).
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = authority.issue_cert(
        SITE_NAME, not_before=now - datetime.timedelta(hours=1), not_after=now + datetime.timedelta(days=90)
    )
    certificate.private_key_pem.write_to_path(folder / "key.pem")
    certificate.cert_chain_pems[0].write_to_path(folder / "cert.pem")
    for pem in certificate.cert_chain_pems[1:]:
        pem.write_to_path(folder / "cert.pem", append=True)
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


def gunicorn_conf() -> dict[str, object]:
    """The names gunicorn.conf.py defines, as gunicorn reads them, but for modules: the file run by
    a Python of its own, without WEB_CONCURRENCY (which would leave workers unset); a function by
    its type."""
    show = (
        "import json, runpy, types;"
        " names = runpy.run_path('gunicorn.conf.py');"
        " print(json.dumps({name: value for name, value in names.items()"
        " if not isinstance(value, types.ModuleType) and not name.startswith('__')},"
        " default=lambda value: f'<{type(value).__name__}>'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", show],
        cwd=ROOT,
        env={name: value for name, value in os.environ.items() if name != "WEB_CONCURRENCY"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def gunicorn_settings() -> Config:
    """The settings the repository's gunicorn.conf.py gives, over gunicorn's defaults."""
    config = Config()
    for name, value in gunicorn_conf().items():
        if name in config.settings and value != "<function>":
            config.set(name, value)
    return config


def accept_queue(port: int) -> int | None:
    """How many connections wait to be accepted by the socket listening on this IPv4 port, from
    Linux's /proc/net/tcp (a listening socket's rx_queue); None if nothing listens on it."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
            return int(fields[4].partition(":")[2], 16)
    return None


def wait_for_workers(server: Server, count: int, timeout: float = 20) -> set[int]:
    """Wait until the gunicorn master has count workers, each booted; return their process ids."""
    wait_for(
        lambda: len(children(server.process.pid)) == count and len(booted_workers(server)) >= count, timeout
    )
    return children(server.process.pid)
