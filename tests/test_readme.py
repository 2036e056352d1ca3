"""The README's shell sessions, run as written: each command prints what the README shows."""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import APP_VARIABLES
from bench.servers import free_port
from bench.servers import serve
from bench.servers import wait_for
from tests.helpers.answer import fetch
from tests.helpers.docs import commands
from tests.helpers.docs import doc_block
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import TEST_KEY
from tests.helpers.servers import require_executable

# Starts real servers: .ci/run runs these on every Python version (pyproject.toml, markers).
pytestmark = [pytest.mark.slow, pytest.mark.every_python]


def session(heading: str) -> list[tuple[str, str]]:
    """The (command, output) pairs of the console block in the README section under heading."""
    pairs: list[tuple[str, str]] = []
    for line in doc_block("README.md", heading).splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], ""))
        else:
            command, output = pairs[-1]
            pairs[-1] = (command, output + line + "\n")
    return pairs


def stamped(output: str) -> str:
    """output with each cookie value's time and signature (base64url, 6 and 43 characters) replaced."""
    return re.sub(r"\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{43}(?=;)", ".<time>.<signature>", output)


def run_session(pairs: list[tuple[str, str]], cwd: Path, env: dict[str, str]) -> list[str]:
    """Run the commands in one bash, in order; return what each one printed (stdout and stderr)."""
    script = "".join(f"echo '@@ {number}'\n{command}\n" for number, (command, _) in enumerate(pairs))
    run = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    return re.split(r"^@@ \d+\n", run.stdout, flags=re.M)[1:]


def shell_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The reader's shell: the virtual environment's programs first, none of the app's variables."""
    env = {name: value for name, value in os.environ.items() if name not in APP_VARIABLES}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return {**env, **extra}


def test_the_quick_start(tmp_path):
    """The two commands, as written, in a copy of the repository: the install, then gunicorn serving
    the form on a key it made itself (its port given by GUNICORN_CMD_ARGS, 8000 may be taken)."""
    install, start = commands(doc_block("README.md", "Quick start"))
    assert (install, start) == (
        "python3 -m venv .venv && .venv/bin/pip install -e .",
        ".venv/bin/gunicorn wsgiapp:application",
    )
    copy = tmp_path / "wsgiapp"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.split("\0")[:-1]:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    env = shell_env(tmp_path)
    run = subprocess.run(
        ["bash", "-c", install], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    port = free_port()
    env = {"GUNICORN_CMD_ARGS": f"-b 127.0.0.1:{port}", "XDG_STATE_HOME": str(tmp_path / "state")}
    with serve(shlex.split(start), port, env=env, cwd=copy) as app:
        assert '<form action="/setcookie" method="POST">' in fetch(app.url + "/").text
        kept = tmp_path / "state" / "wsgiapp" / "secret_key"
        assert (
            "[WARNING] wsgiapp: SECRET_KEY and SECRET_KEY_FILE are not set: signing with the generated key"
            f" in {kept}\n"
        ) in app.output()
        assert kept.stat().st_mode & 0o777 == 0o600


def session_on(port: int) -> list[tuple[str, str]]:
    """The curl session with its port, in commands and output, replaced by this one."""
    return [
        (command.replace(":8001", f":{port}"), output.replace(":8001", f":{port}"))
        for command, output in session("A session with curl")
    ]


def test_the_curl_session(tmp_path):
    """Run from another folder with the repository's config given to gunicorn by GUNICORN_CMD_ARGS,
    and a free port: only the port changes."""
    require_executable("curl", install="Debian: apt-get install curl")
    pairs = session_on(free_port())
    env = shell_env(tmp_path, GUNICORN_CMD_ARGS=f"-c {ROOT / 'gunicorn.conf.py'}")
    try:
        printed = run_session(pairs, tmp_path, env)
    finally:
        pidfile = tmp_path / "gunicorn.pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
    assert any(command.startswith("gunicorn --daemon --pid gunicorn.pid ") for command, _ in pairs)
    # The cookie's time and signature change with the second it is issued: only their form counts.
    assert [stamped(output) for output in printed] == [stamped(output) for _, output in pairs]
    assert not (tmp_path / "gunicorn.log").exists()


def test_the_curl_sessions_server_on_a_taken_port_says_so_in_its_log(tmp_path):
    """What the README says of a taken port: the daemon's command exits 0, the log ends with
    "Can't connect", and the check the session makes prints nothing."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        commands = [command for command, _ in session_on(port)]
        (start,) = [command for command in commands if command.startswith("gunicorn --daemon")]
        (check,) = [command for command in commands if command.startswith("grep ")]
        env = shell_env(tmp_path, GUNICORN_CMD_ARGS=f"-c {ROOT / 'gunicorn.conf.py'}", SECRET_KEY=TEST_KEY)
        assert run_session([(f"{start}; echo exit $?", "")], tmp_path, env) == ["exit 0\n"]
        log = tmp_path / "gunicorn.log"
        wait_for(lambda: log.exists() and "Can't connect" in log.read_text(), 30)
        assert log.read_text().splitlines()[-1].endswith(f"[ERROR] Can't connect to ('127.0.0.1', {port})")
        # The daemon is gone: it left its pid file behind.
        daemon = Path("/proc", (tmp_path / "gunicorn.pid").read_text().strip())
        wait_for(lambda: not daemon.exists())
        assert run_session([(check, "")], tmp_path, env) == [""]


def test_the_bad_setting_example(tmp_path):
    pairs = session("Settings")
    printed = run_session(pairs, ROOT, shell_env(tmp_path))
    assert printed == [output for _, output in pairs]
