"""Start the app in a real server as a subprocess on a free loopback port, and stop it."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def gunicorn_command(port: int, *options: str) -> list[str]:
    """`gunicorn wsgiapp:application` with the repository's gunicorn.conf.py, bound to port."""
    return [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", *options, "wsgiapp:application"]


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


@contextlib.contextmanager
def serve(
    command: list[str], port: int, env: dict[str, str] | None = None, timeout: float = 20
) -> Iterator[Server]:
    """Run command from the repository root until the block ends; it must answer GET / with 200."""
    full_env = {**os.environ, **(env or {})}
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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
