"""Live servers, each started with only what differs said: gunicorn (or another server's command) on a
free port, and the site as deployed, deploy/nginx.conf over TLS in front of them. Context managers on
the process harness (tests.helpers.servers), for fixtures of any scope; tests/conftest.py's factory
fixtures start them for one test and stop them at its end."""

import contextlib
import shutil
import ssl
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server
from bench.servers import free_port
from bench.servers import gunicorn_command
from bench.servers import serve
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import TEST_KEY
from tests.helpers.servers import ACCESS_LOG_WITH_PID
from tests.helpers.servers import Proxy
from tests.helpers.servers import require_nginx
from tests.helpers.servers import run_nginx

# An instance as deploy/nginx.conf expects each: two workers; the access log names the worker.
INSTANCE = ("--workers", "2", *ACCESS_LOG_WITH_PID)


@dataclass(frozen=True)
class TLS:
    """cert.pem, key.pem and ca.pem for the site's name in folder (make_tls), and a client context
    that trusts them."""

    folder: Path
    context: ssl.SSLContext


def copy_of_the_app(folder: Path) -> Path:
    """wsgiapp.py, gunicorn.conf.py and html/ copied into folder (made if need be), to be served or
    edited there."""
    folder.mkdir(exist_ok=True)
    for name in ("wsgiapp.py", "gunicorn.conf.py"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "html", folder / "html")
    return folder


@contextlib.contextmanager
def live_server(
    *options: str,
    command: Callable[..., list[str]] = gunicorn_command,
    key: str | None = TEST_KEY,
    env: dict[str, str | None] | None = None,
    port: int | None = None,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """command(port, *options), gunicorn with the repository's gunicorn.conf.py unless told otherwise,
    in cwd on port (a free one if None), from when it answers until the block ends; signing with key
    (None: SECRET_KEY unset), env over that (see server_env)."""
    port = port or free_port()
    with serve(command(port, *options), port, env={"SECRET_KEY": key, **(env or {})}, cwd=cwd) as server:
        yield server


@contextlib.contextmanager
def live_nginx(ports: Iterable[int], tls: TLS) -> Iterator[Proxy]:
    """deploy/nginx.conf over TLS (tls's certificate) in front of the servers on ports, until the
    block ends; its url is https://<the site's name>:<port>."""
    with run_nginx(require_nginx(), list(ports), tls.folder) as proxy:
        yield proxy
