"""The keys over time, against real gunicorn with the repository's gunicorn.conf.py: the master reads
the settings at start and at each kill -HUP, and every worker it forks signs with that snapshot. A
replaced worker never reads the key file; a reload with bad settings (or code that does not load)
changes nothing and says why in one line; a good one rotates the keys, and the two-phase rotation
over two instances loses no login under load."""

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.servers import Server
from bench.servers import children
from bench.servers import free_port
from bench.servers import wait_for
from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.keys import key_file
from tests.helpers.live import copy_of_the_app
from tests.helpers.live import live_server
from tests.helpers.oracle import NEW_KEY
from tests.helpers.oracle import NOT_FOUND
from tests.helpers.oracle import OLD_KEY
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import TEST_KEY as KEY
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import keys_line
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome
from tests.helpers.servers import ACCESS_LOG_WITH_PID
from tests.helpers.servers import answering_workers
from tests.helpers.servers import app_lines
from tests.helpers.servers import booted_workers
from tests.helpers.servers import wait_for_workers

# Starts real servers: .ci/run runs these on every Python version (pyproject.toml, markers).
pytestmark = [pytest.mark.slow, pytest.mark.every_python]

WORKERS = 2
REFUSED = "wsgiapp: reload refused, serving as before: "


@contextlib.contextmanager
def start(port: int, keys: Path, *options: str, cwd: Path = ROOT) -> Iterator[Server]:
    """gunicorn with 2 workers, signing with the keys of that file, once both have booted (a HUP before
    would count a late first worker as a reloaded one); the access log names the worker."""
    env = {"SECRET_KEY_FILE": str(keys)}
    options = ("--workers", str(WORKERS), *ACCESS_LOG_WITH_PID, *options)
    with live_server(*options, key=None, env=env, port=port, cwd=cwd) as server:
        wait_for_workers(server, WORKERS)
        yield server


def reload(server: Server) -> None:
    """kill -HUP, then wait until the master has booted a new set of workers and the old ones are gone."""
    booted = len(booted_workers(server))
    exited = server.output().count("Worker exiting")
    os.kill(server.process.pid, signal.SIGHUP)
    wait_for(
        lambda: (
            len(booted_workers(server)) >= booted + WORKERS
            and server.output().count("Worker exiting") >= exited + WORKERS
        ),
        output=server.output,
    )
    wait_for(lambda: len(children(server.process.pid)) == WORKERS, output=server.output)


def login(server: Server, name: str = "alice") -> str:
    answer = fetch(server.url + "/setcookie", **form(name))
    assert answer.status == 200
    return answer.cookie_pair()


def welcomes(server: Server, cookie: str, name: str = "alice") -> bool:
    answer = fetch(server.url + "/getcookie", headers={"Cookie": cookie})
    assert answer.status == 200
    return welcome(name) in answer.text


def test_a_good_reload_rotates_the_keys(tmp_path):
    keys = key_file(tmp_path / "keys", KEY, OLD_KEY)
    port = free_port()
    with start(port, keys) as app:
        by_old_key = signed("alice", OLD_KEY)
        by_key = login(app, "bob")
        assert by_key == signed("bob", KEY, at=issued_at(by_key))
        assert welcomes(app, by_old_key, "alice")
        assert welcomes(app, by_key, "bob")

        key_file(keys, NEW_KEY, KEY)
        reload(app)
        answer = fetch(app.url + "/getcookie", headers={"Cookie": by_old_key})
        assert "<h1>No user is set</h1>" in answer.text
        assert answer.cookie_pair() == "userID="
        assert welcomes(app, by_key, "bob")
        by_new_key = login(app, "carol")
        assert by_new_key == signed("carol", NEW_KEY, at=issued_at(by_new_key))
        # The master names the keys at start and after the reload; the workers say nothing.
        assert app_lines(app.output()) == [
            ("INFO", keys_line(KEY, OLD_KEY)),
            ("INFO", keys_line(NEW_KEY, KEY)),
        ]


@pytest.mark.parametrize("edit", ["new key first", "emptied", "removed"])
@pytest.mark.parametrize("how", ["crash", "max-requests"])
def test_a_replaced_worker_signs_with_the_masters_keys(tmp_path, edit, how):
    """The key file changes without a reload, then a worker is replaced: by a crash (SIGKILL), or
    after its max_requests. The new worker signs and verifies as its siblings do, with the keys of
    the master's snapshot, and the instance keeps serving."""
    keys = key_file(tmp_path / "keys", KEY)
    port = free_port()
    options = ("--max-requests", "5") if how == "max-requests" else ()
    with start(port, keys, *options) as app:
        first = wait_for_workers(app, WORKERS)
        if edit == "new key first":
            key_file(keys, NEW_KEY, KEY)
        elif edit == "emptied":
            keys.write_text("")
        else:
            keys.unlink()
        if how == "crash":
            # Every worker of the start crashes: all the answers below come from their replacements.
            for pid in first:
                os.kill(pid, signal.SIGKILL)
            wait_for(lambda: len(booted_workers(app)) == 2 * WORKERS, output=app.output)
            wait_for(lambda: len(children(app.process.pid)) == WORKERS, output=app.output)
            assert not children(app.process.pid) & first
        # 40 logins, each read back twice, by the replaced workers (and, with max-requests, the first).
        cookies = [login(app, f"user{number}") for number in range(40)]
        for number, cookie in enumerate(cookies):
            assert cookie == signed(f"user{number}", KEY, at=issued_at(cookie))
            assert welcomes(app, cookie, f"user{number}")
            assert welcomes(app, cookie, f"user{number}")
        replacements = set(answering_workers(app, "POST /setcookie")) - first
        assert replacements, "no replaced worker answered"
        assert app.process.poll() is None
        # The master named the keys at start; no worker read the settings.
        assert app_lines(app.output()) == [("INFO", keys_line(KEY))]


# Bad settings at a reload: what is written before kill -HUP, and the one line the master logs. Two
# kinds, the key file and a variable: what a reload adds to the refusal is that the running instance
# keeps serving and says why. Every message is checked in process (tests/test_settings.py).
BAD_RELOADS = {
    "missing": (
        lambda keys: keys.unlink(),
        "SECRET_KEY_FILE {keys} cannot be read: No such file or directory",
    ),
    "a bad variable": (
        lambda keys: (keys.parent / "env").write_text("COOKIE_MAX_AGE=soon\n"),
        "COOKIE_MAX_AGE must be a positive whole number of seconds, not 'soon'",
    ),
}


def wrapping_config(folder: Path) -> Path:
    """A config file that sets the variables of folder/env (as a config that reads an env file
    would), then runs the repository's gunicorn.conf.py: a variable can then change at a reload."""
    (folder / "env").write_text("COOKIE_MAX_AGE=3600\n")
    config = folder / "gunicorn.conf.py"
    config.write_text(
        "import os\n"
        f"for line in open({str(folder / 'env')!r}).read().splitlines():\n"
        "    name, _, value = line.partition('=')\n"
        "    os.environ[name] = value\n"
        f"exec(compile(open({str(ROOT / 'gunicorn.conf.py')!r}).read(), 'gunicorn.conf.py', 'exec'))\n"
    )
    return config


@pytest.mark.parametrize("case", BAD_RELOADS)
def test_a_reload_with_bad_settings_changes_nothing_and_says_why(tmp_path, case):
    """As nginx -s reload: the master stays up and logs one line, the workers it starts keep the
    running keys, and a later good reload takes the new ones."""
    keys = key_file(tmp_path / "keys", KEY)
    port = free_port()
    spoil, message = BAD_RELOADS[case]
    with start(port, keys, "-c", str(wrapping_config(tmp_path))) as app:
        before = login(app)
        spoil(keys)
        reload(app)
        # The app says why it cannot load, gunicorn.conf.py's on_reload that the running one stays.
        assert app_lines(app.output()) == [
            ("INFO", keys_line(KEY)),
            ("ERROR", "wsgiapp: " + message.format(keys=keys)),
            ("ERROR", REFUSED + "it exited at import with status 4"),
        ]
        assert app.process.poll() is None
        assert welcomes(app, before)
        after = login(app, "bob")
        assert after == signed("bob", KEY, at=issued_at(after))
        assert "Max-Age=3600" in fetch(app.url + "/setcookie", **form("bob")).cookie_header().split("; ")

        # Put right, the next reload takes the new keys.
        key_file(keys, NEW_KEY, KEY)
        (tmp_path / "env").write_text("COOKIE_MAX_AGE=3600\n")
        reload(app)
        assert welcomes(app, before)
        renewed = login(app, "carol")
        assert renewed == signed("carol", NEW_KEY, at=issued_at(renewed))
        assert app_lines(app.output())[3:] == [("INFO", keys_line(NEW_KEY, KEY))]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


# New code that cannot load: what is added to wsgiapp.py, and the reason the refusal gives.
BROKEN_CODE = {
    "an exception": ("raise RuntimeError('the new code is broken')", "RuntimeError: the new code is broken"),
    "SystemExit": ("raise SystemExit(3)", "it exited at import with status 3"),
}


@pytest.mark.parametrize("broken", BROKEN_CODE)
def test_a_reload_loads_new_code_and_keeps_the_old_when_it_cannot(tmp_path, broken):
    """kill -HUP loads the app's code and pages afresh; code that does not load, whatever it raises,
    is refused like a bad setting, and the running app keeps serving with its keys."""
    copy = copy_of_the_app(tmp_path / "copy")
    keys = key_file(tmp_path / "keys", KEY)
    port = free_port()
    with start(port, keys, cwd=copy) as app:
        assert "Enter userID</label>" in fetch(app.url + "/").text
        edit(copy / "html" / "index.html", "Enter userID</label>", "Enter userID, again</label>")
        edit(
            copy / "wsgiapp.py",
            f'"{NOT_FOUND}"',
            '"Nothing here."',
        )
        reload(app)
        assert "Enter userID, again</label>" in fetch(app.url + "/").text
        assert "<p>Nothing here.</p>" in fetch(app.url + "/nowhere").text
        cookie = login(app)

        line, reason = BROKEN_CODE[broken]
        # At the top of the module, as a broken import or a syntax error would fail.
        edit(
            copy / "wsgiapp.py",
            "from __future__ import annotations\n",
            f"from __future__ import annotations\n{line}\n",
        )
        key_file(keys, NEW_KEY, KEY)
        reload(app)
        assert "Enter userID, again</label>" in fetch(app.url + "/").text
        assert "<p>Nothing here.</p>" in fetch(app.url + "/nowhere").text
        assert welcomes(app, cookie)
        after = login(app, "bob")
        assert after == signed("bob", KEY, at=issued_at(after))
        wait_for(lambda: len(app_lines(app.output())) > 2, output=app.output)
        assert app_lines(app.output())[2:] == [("ERROR", REFUSED + reason)], app.output()
        assert app.process.poll() is None


def test_gunicorn_reload_says_at_start_that_it_serves_what_was_loaded(tmp_path):
    """--reload restarts workers from the master's preloaded app: gunicorn.conf.py says so at start,
    and which command serves edits."""
    keys = key_file(tmp_path / "keys", KEY)
    port = free_port()
    with start(port, keys, "--reload") as app:
        assert app_lines(app.output()) == [
            ("INFO", keys_line(KEY)),
            (
                "WARNING",
                "wsgiapp: --reload serves the code and pages loaded at start, not your edits (preload_app);"
                " while editing, run `python wsgiapp.py`, which reloads both",
            ),
        ]


class Traffic:
    """Logins on one instance read back on the other, in both directions, until stopped."""

    def __init__(self, first: Server, second: Server) -> None:
        self.pairs = [(first, second), (second, first)]
        self.rounds = 0
        self.lost: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stopping.is_set() and self.rounds < 100_000:
            for signer, reader in self.pairs:
                name = f"user{self.rounds}"
                cookie = login(signer, name)
                if not welcomes(reader, cookie, name):
                    self.lost.append(cookie)
            self.rounds += 1

    def wait_rounds(self, count: int) -> None:
        """Wait until count more rounds have gone by."""
        goal = self.rounds + count
        wait_for(lambda: self.rounds >= goal or not self.thread.is_alive(), timeout=60)
        assert self.thread.is_alive(), "the traffic stopped"

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)


# The procedures: the key files' contents at each step, every instance reloaded after each step.
ROTATIONS = {
    # docs/deploying.md: the new key verifies everywhere before it signs anywhere.
    "two phases": [(KEY, NEW_KEY), (NEW_KEY, KEY)],
    # The control: the new key signs on the first instance while the second cannot verify it.
    "one phase": [(NEW_KEY, KEY)],
}


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_rotating_the_key_over_two_instances_under_load(tmp_path, rotation):
    """Two instances, each with its own copy of the key file (two machines), logins on each read
    back on the other throughout. In two phases not one login is lost; in one phase, the logins
    made between the two reloads are."""
    files = [key_file(tmp_path / "a", KEY), key_file(tmp_path / "b", KEY)]
    ports = [free_port(), free_port()]
    with (
        start(ports[0], files[0]) as first,
        start(ports[1], files[1]) as second,
        Traffic(first, second) as traffic,
    ):
        traffic.wait_rounds(10)
        for step in ROTATIONS[rotation]:
            for keys, instance in zip(files, (first, second), strict=True):
                key_file(keys, *step)
                reload(instance)
                # Logins on each instance in the gap before the next one reloads.
                traffic.wait_rounds(10)
        last = login(second, "zoe")
        assert last == signed("zoe", NEW_KEY, at=issued_at(last))
    assert traffic.rounds >= 20 * len(ROTATIONS[rotation]) + 10
    if rotation == "two phases":
        assert traffic.lost == []
    else:
        # At least the ten rounds between the two reloads: logins on the first, signed with the new key.
        assert len(traffic.lost) >= 10
