"""Start the app in a real server as a subprocess on a free loopback port, and stop it; talk to it."""

import contextlib
import datetime
import http.client
import importlib.util
import os
import re
import runpy
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gunicorn.config import Config

ROOT = Path(__file__).resolve().parent.parent
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


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen
    log: tempfile.SpooledTemporaryFile

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        """What the server has printed so far (stdout and stderr)."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, *options: str, app: str = "wsgiapp:application") -> list[str]:
    """`gunicorn wsgiapp:application` with the repository's gunicorn.conf.py, bound to port."""
    return [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", *options, app]


def devserver_command(port: int) -> list[str]:
    return [sys.executable, "wsgiapp.py", "--host", "127.0.0.1", "--port", str(port), "--no-reload"]


def wait_until_up(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.output()}")
        try:
            conn = http.client.HTTPConnection(server.host, server.port, timeout=2)
            conn.request("GET", "/")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not answer in time:\n{server.output()}")


# The app's own settings: a server started by a test gets none of them from the test's environment.
APP_VARIABLES = ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SECRET_KEY_FILE", "COOKIE_MAX_AGE")


def server_env(env: dict[str, str | None] | None, state: Path) -> dict[str, str]:
    """The test's environment without the app's settings, a key folder of the test's own
    (XDG_STATE_HOME: the generated key is kept there), and env over that; None removes a variable."""
    full_env = {name: value for name, value in os.environ.items() if name not in APP_VARIABLES}
    full_env = {**full_env, "XDG_STATE_HOME": str(state), **(env or {})}
    return {name: value for name, value in full_env.items() if value is not None}


@contextlib.contextmanager
def serve(
    command: list[str],
    port: int,
    env: dict[str, str | None] | None = None,
    timeout: float = 20,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """Run command in cwd (the repository root) until the block ends; it must answer GET / with 200.

    env adds to the environment (see server_env).
    """
    log = tempfile.TemporaryFile()
    with tempfile.TemporaryDirectory() as state:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=server_env(env, Path(state)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = Server("127.0.0.1", port, process, log)
        try:
            wait_until_up(server, time.monotonic() + timeout)
            yield server
        finally:
            stop(process)
            log.close()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the process and everything it started."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(condition: Callable[[], object], timeout: float = 20) -> None:
    """Poll until condition() is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not true after {timeout} s"
        time.sleep(0.05)


# Debian's Chromium, for Playwright: its own downloaded browsers are not used.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> str:
    """The path of Chromium, once Playwright for Python is known to be installed too."""
    require("Playwright for Python", importlib.util.find_spec("playwright"), "pip install -e '.[test]'")
    return require_executable("chromium", install="Debian: apt-get install chromium")


# Gunicorn's access log with the answering worker's process id first, X-Forwarded-For last:
# `<1234> "GET / HTTP/1.1" 200 -`.
ACCESS_LOG_WITH_PID = ("--access-logformat", '%(p)s "%(r)s" %(s)s %({x-forwarded-for}i)s')


def booted_workers(server: Server) -> list[int]:
    """The process ids of the gunicorn workers booted so far, in order."""
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.output())]


def answering_workers(server: Server, request_line: str) -> dict[int, int]:
    """How many requests with this request line each worker answered (needs ACCESS_LOG_WITH_PID)."""
    counts: dict[int, int] = {}
    for pid in re.findall(rf'^<(\d+)> "{re.escape(request_line)} HTTP/1\.\d"', server.output(), re.M):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


@dataclass
class Response:
    status: int
    headers: Message
    body: str


def fetch(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
    context: ssl.SSLContext | None = None,
) -> Response:
    """One request on a new connection, read whole; source is the client's own loopback address.

    A URL with the site's name of deploy/nginx.conf (SITE_NAME) goes to loopback (see SiteHTTPConnection).
    """
    parts = urlsplit(url)
    source_address = (source, 0) if source else None
    site = parts.hostname == SITE_NAME
    if parts.scheme == "https":
        conn = (SiteHTTPSConnection if site else http.client.HTTPSConnection)(
            parts.hostname, parts.port, timeout=10, source_address=source_address, context=context
        )
    else:
        conn = (SiteHTTPConnection if site else http.client.HTTPConnection)(
            parts.hostname, parts.port, timeout=10, source_address=source_address
        )
    try:
        conn.request(method, parts.path or "/", body=body, headers=headers or {})
        response = conn.getresponse()
        return Response(response.status, response.msg, response.read().decode())
    finally:
        conn.close()


def form(name: str) -> dict[str, object]:
    """fetch() arguments that post the login form with this name."""
    body = "nm=" + "".join(f"%{byte:02X}" for byte in name.encode())
    return {
        "method": "POST",
        "body": body.encode(),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }


def cookie_header(response: Response) -> str:
    """The Set-Cookie header of an answer that must set exactly one cookie."""
    headers = response.headers.get_all("Set-Cookie") or []
    assert len(headers) == 1, headers
    return headers[0]


def cookie_pair(response: Response) -> str:
    """`name=value` of the cookie an answer sets, as a browser sends it back."""
    return cookie_header(response).split("; ")[0]


# nginx in front of gunicorn instances, from the shipped example deploy/nginx.conf.
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def site_name() -> str:
    """The one server_name of deploy/nginx.conf: its default servers refuse every other name."""
    names = set(re.findall(r"^\s*server_name\s+(\S+);", NGINX_CONF.read_text("utf-8"), re.M))
    assert len(names) == 1, f"{NGINX_CONF.name} should name one site, not {names}"
    return names.pop()


SITE_NAME = site_name()


def connect_to_loopback(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
    return socket.create_connection(("127.0.0.1", address[1]), *args, **kwargs)


class SiteHTTPConnection(http.client.HTTPConnection):
    """A connection to the site's name, made to 127.0.0.1, as `curl --resolve` does: the name is
    still the Host header (and, over https, the SNI and the name the certificate is checked for)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = connect_to_loopback


class SiteHTTPSConnection(http.client.HTTPSConnection):
    """SiteHTTPConnection over TLS."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = connect_to_loopback


class SiteHTTPSHandler(urllib.request.HTTPSHandler):
    """For urllib openers: https URLs with the site's name go to loopback."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.site_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        if req.host.partition(":")[0] != SITE_NAME:
            return super().https_open(req)
        return self.do_open(SiteHTTPSConnection, req, context=self.site_context)


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
        """nginx's error log so far."""
        return (self.folder / "error.log").read_text("utf-8", "replace")


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
        deadline = time.monotonic() + 20
        while not answers(proxy.http_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{proxy.output()}")
            time.sleep(0.05)
        yield proxy
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def answers(url: str) -> bool:
    try:
        fetch(url)
    except OSError:
        return False
    return True


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


# Raw HTTP, for bad input that an HTTP library would refuse to send or would clean up.


def gunicorn_conf() -> dict[str, object]:
    """The names gunicorn.conf.py defines, as gunicorn reads them (it executes the file)."""
    # The file imports wsgiapp to check the settings, then drops it from sys.modules for gunicorn's
    # workers: keep this process's module, which the tests' apps were built from.
    module = sys.modules.get("wsgiapp")
    try:
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        if module is not None:
            sys.modules["wsgiapp"] = module


def gunicorn_settings() -> Config:
    """The settings the repository's gunicorn.conf.py gives, over gunicorn's defaults."""
    config = Config()
    for name, value in gunicorn_conf().items():
        if name in config.settings:
            config.set(name, value)
    return config


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The one value of a header, None if absent."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


def send_raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are, half-close, and read everything the server sends back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before it has read a large body.
        with contextlib.suppress(OSError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        received = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received.append(chunk)
    return b"".join(received)


def parse_response(data: bytes) -> RawResponse:
    """The first final HTTP/1.1 response in data, after any 1xx."""
    head, _, rest = data.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 1"):
        head, _, rest = rest.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    response = RawResponse(int(status_line.split()[1]), headers, b"")
    length = response.header("Content-Length")
    response.body = rest[: int(length)] if length is not None else rest
    return response


def accept_queue(port: int) -> int | None:
    """How many connections wait to be accepted by the socket listening on this IPv4 port, from
    Linux's /proc/net/tcp (a listening socket's rx_queue); None if nothing listens on it."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
            return int(fields[4].partition(":")[2], 16)
    return None


def children(pid: int) -> set[int]:
    """The processes whose parent is pid: a gunicorn master's workers."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The command name, in parentheses, may hold spaces: the fields follow its ")".
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def memory_kib(pid: int, field: str) -> int:
    """A memory figure of /proc/<pid>/status in KiB: VmRSS now, VmHWM the peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise KeyError(field)


def wait_for_workers(server: Server, count: int, timeout: float = 20) -> set[int]:
    """Wait until the gunicorn master has count workers, each booted; return their process ids."""
    wait_for(
        lambda: len(children(server.process.pid)) == count and len(booted_workers(server)) >= count, timeout
    )
    return children(server.process.pid)
