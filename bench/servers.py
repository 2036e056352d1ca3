"""Servers as subprocesses on free loopback ports: a gunicorn command, started, waited on until it
answers, stopped with everything it started; and what /proc tells of them (workers, memory).

The benchmark, docs/screenshots.py and the tests start their servers with these. Every server listens
on 127.0.0.1: a URL's host name is only the Host header (a site's name in front of nginx).
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        """What the server has printed so far (stdout and stderr)."""
        return read_log(self.log)


def read_log(log: IO[bytes]) -> str:
    """What a process has written to log, a file it shares with this one. Read with pread: a seek
    would move the offset the process writes at (one open file, one offset), and its next line
    would overwrite the start of the file."""
    size = os.fstat(log.fileno()).st_size
    return os.pread(log.fileno(), size, 0).decode("utf-8", "replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, *options: str, app: str = "wsgiapp:application") -> list[str]:
    """`gunicorn wsgiapp:application` with the repository's gunicorn.conf.py, bound to port."""
    return [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", *options, app]


def status_of(url: str) -> int:
    """The status of GET url, on a new connection to 127.0.0.1 at the URL's port."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path or "/", headers={"Host": parts.netloc})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def answers(url: str, process: subprocess.Popen, output: Callable[[], str], status: int | None = 200) -> bool:
    """Whether GET url answers now, with status if not None; a process that has exited fails."""
    if process.poll() is not None:
        raise RuntimeError(f"exited with {process.returncode}:\n{output()}")
    try:
        answered = status_of(url)
    except OSError:
        return False
    return status is None or answered == status


# The app's own settings: a server started here gets none of them from this process's environment.
APP_VARIABLES = ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SECRET_KEY_FILE", "COOKIE_MAX_AGE")


def server_env(env: dict[str, str | None] | None, state: Path) -> dict[str, str]:
    """This process's environment without the app's settings, a key folder of the server's own
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
        process = subprocess.Popen(  # noqa: S603  (the caller's own server command)
            command,
            cwd=cwd,
            env=server_env(env, Path(state)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = Server("127.0.0.1", port, process, log)
        try:
            wait_for(lambda: answers(server.url + "/", process, server.output), timeout, server.output)
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


def wait_for(
    condition: Callable[[], object], timeout: float = 20, output: Callable[[], str] | None = None
) -> None:
    """Poll until condition() is true; fail after timeout seconds, with output() if given (a log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"still not true after {timeout} s" + (f":\n{output()}" if output else ""))
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
