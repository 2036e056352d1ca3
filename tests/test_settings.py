"""Settings, in process: the keys (SECRET_KEY and its fallbacks, SECRET_KEY_FILE, the generated key
file) and COOKIE_MAX_AGE, read into a Settings value, with the warnings the log gets; and each refusal
as an operator sees it from settings_or_exit: exit status 4 and one exact line on stderr. No server is
started here (tests/test_settings_servers.py starts them)."""

import errno
import logging
import multiprocessing
import os
import re
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from wsgiref.validate import validator

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from bench.servers import server_env
from tests.helpers.inprocess import BufferedClient
from tests.helpers.keys import key_file
from tests.helpers.keys import kubernetes_secret
from tests.helpers.oracle import OLD_KEY
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import keys_line
from tests.helpers.oracle import sign
from tests.helpers.oracle import sign_payload
from wsgiapp import App
from wsgiapp import GunicornErrorLog
from wsgiapp import Settings
from wsgiapp import SettingsError
from wsgiapp import app_from
from wsgiapp import log_handler
from wsgiapp import settings_from
from wsgiapp import settings_or_exit

OLDER_KEY = "p" * 32
NOT_PRINTABLE = (
    "holds a character that is not printable: a control character, or a space other than the ASCII one"
    " (no-break, zero-width...)"
)


def stopped(caplog, env):
    """settings_or_exit(env), which must stop: (exit status, the errors it logged). A warning may
    come before the error (a key file every user can read): the tests of warnings read those."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="wsgiapp"), pytest.raises(SystemExit) as raised:
        settings_or_exit(env)
    return raised.value.code, [record for record in log_records(caplog) if record[1] == "ERROR"]


def one_line(message):
    """How settings_or_exit stops on a bad setting: its status, and one line in the log, its message
    after "wsgiapp: " (tests/test_settings_servers.py reads it on the servers' stderr)."""
    return (4, [("wsgiapp", "ERROR", f"wsgiapp: {message}")])


def log_records(caplog):
    return [(record.name, record.levelname, record.getMessage()) for record in caplog.records]


# --- SECRET_KEY and SECRET_KEY_FALLBACKS --------------------------------------------------------


def test_settings_as_given():
    assert settings_from({"SECRET_KEY": TEST_KEY}) == Settings((TEST_KEY,), None)
    env = {"SECRET_KEY": TEST_KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY},{OLDER_KEY}", "COOKIE_MAX_AGE": "3600"}
    assert settings_from(env) == Settings((TEST_KEY, OLD_KEY, OLDER_KEY), 3600)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": f" {TEST_KEY}"}, "SECRET_KEY has whitespace at its start or end"),
        ({"SECRET_KEY": f"{TEST_KEY}\t"}, "SECRET_KEY has whitespace at its start or end"),
        ({"SECRET_KEY": f"{TEST_KEY}\n"}, "SECRET_KEY has whitespace at its start or end"),
        (
            {"SECRET_KEY": f"{TEST_KEY},x"},
            "SECRET_KEY holds a comma, so it could not be listed in SECRET_KEY_FALLBACKS",
        ),
        ({"SECRET_KEY": f"{TEST_KEY}\x00x"}, f"SECRET_KEY {NOT_PRINTABLE}"),
        ({"SECRET_KEY": f"{TEST_KEY}\x00"}, f"SECRET_KEY {NOT_PRINTABLE}"),
        # Invisible, yet not the same key: a no-break space and a zero-width space.
        ({"SECRET_KEY": f"{TEST_KEY[:16]}\u00a0{TEST_KEY[16:]}"}, f"SECRET_KEY {NOT_PRINTABLE}"),
        ({"SECRET_KEY": f"{TEST_KEY[:16]}\u200b{TEST_KEY[16:]}"}, f"SECRET_KEY {NOT_PRINTABLE}"),
        (
            {"SECRET_KEY": TEST_KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY}, {OLDER_KEY}"},
            "key 2 of SECRET_KEY_FALLBACKS has whitespace at its start or end",
        ),
        (
            {"SECRET_KEY": TEST_KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY},,{OLDER_KEY}"},
            "key 2 of SECRET_KEY_FALLBACKS is empty",
        ),
        (
            {"SECRET_KEY": TEST_KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY},"},
            "key 2 of SECRET_KEY_FALLBACKS is empty",
        ),
        (
            {"SECRET_KEY_FALLBACKS": OLD_KEY},
            "SECRET_KEY_FALLBACKS is set without SECRET_KEY, the key that signs: set both",
        ),
    ],
)
def test_a_key_that_could_not_be_written_down_unchanged_stops_with_one_line(caplog, env, message):
    assert stopped(caplog, env) == one_line(message)


def test_a_short_key_is_accepted_with_a_warning_in_the_log(caplog):
    with caplog.at_level(logging.WARNING, logger="wsgiapp"):
        assert settings_from({"SECRET_KEY": "s" * 31, "SECRET_KEY_FALLBACKS": "t" * 32}).keys == (
            "s" * 31,
            "t" * 32,
        )
    assert log_records(caplog) == [
        ("wsgiapp", "WARNING", "wsgiapp: SECRET_KEY has 31 characters: use at least 32 random ones")
    ]


# --- COOKIE_MAX_AGE -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"), [("", None), ("1", 1), ("3600", 3600), ("86400", 86400), ("0400", 400)]
)
def test_cookie_max_age_is_the_cookies_max_age(value, seconds):
    settings = settings_from({"SECRET_KEY": TEST_KEY, "COOKIE_MAX_AGE": value})
    assert settings == Settings((TEST_KEY,), seconds)
    client = BufferedClient(validator(App(settings)))
    cookie = client.post("/setcookie", data={"nm": "a"}).headers["Set-Cookie"]
    max_ages = [part for part in cookie.split("; ") if part.startswith("Max-Age=")]
    assert max_ages == ([] if seconds is None else [f"Max-Age={seconds}"])


@pytest.mark.parametrize("value", ["0", "000", "-5", "1.5", "soon", "١٢", "٣", " 60", "abc", "+60", "6 0"])
def test_a_cookie_max_age_that_is_not_a_positive_whole_number_stops_with_one_line(caplog, value):
    assert stopped(caplog, {"SECRET_KEY": TEST_KEY, "COOKIE_MAX_AGE": value}) == one_line(
        f"COOKIE_MAX_AGE must be a positive whole number of seconds, not {value!r}"
    )


def test_a_bad_max_age_stops_before_a_key_file_is_made(tmp_path, caplog):
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path), "COOKIE_MAX_AGE": "x"}) == one_line(
        "COOKIE_MAX_AGE must be a positive whole number of seconds, not 'x'"
    )
    assert os.listdir(tmp_path) == []


# --- SECRET_KEY_FILE ----------------------------------------------------------------------------


def test_a_key_file_holds_keys_one_a_line_the_first_signing(tmp_path, caplog):
    """Blank lines and lines of spaces are skipped, but counted; CRLF too; no newline needed at the end."""
    path = tmp_path / "keys"
    path.write_text(f"\n{TEST_KEY}\r\n\n{OLD_KEY}\n   \nshort\n{OLDER_KEY}")
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="wsgiapp"):
        assert settings_from({"SECRET_KEY_FILE": str(path)}) == Settings(
            (TEST_KEY, OLD_KEY, "short", OLDER_KEY), None
        )
    message = f"line 6 of SECRET_KEY_FILE {path} has 5 characters: use at least 32 random ones"
    assert log_records(caplog) == [("wsgiapp", "WARNING", f"wsgiapp: {message}")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "SECRET_KEY_FILE {path} holds no key"),
        (b"\n  \n\n", "SECRET_KEY_FILE {path} holds no key"),
        (TEST_KEY.encode() + b" \n", "line 1 of SECRET_KEY_FILE {path} has whitespace at its start or end"),
        (
            f"{TEST_KEY}\n\n {OLD_KEY}\n".encode(),
            "line 3 of SECRET_KEY_FILE {path} has whitespace at its start or end",
        ),
        (
            f"{TEST_KEY},{OLD_KEY}\n".encode(),
            "line 1 of SECRET_KEY_FILE {path} holds a comma,"
            " so it could not be listed in SECRET_KEY_FALLBACKS",
        ),
        (
            f"{TEST_KEY}\n{TEST_KEY},x\n".encode(),
            "line 2 of SECRET_KEY_FILE {path} holds a comma,"
            " so it could not be listed in SECRET_KEY_FALLBACKS",
        ),
        (b"\xff" * 32, "SECRET_KEY_FILE {path} is not UTF-8 text"),
    ],
    ids=["empty", "blank", "trailing-space", "leading-space", "comma", "comma-after-a-key", "not-utf8"],
)
def test_a_bad_key_file_stops_with_one_line(tmp_path, caplog, content, message):
    path = tmp_path / "keys"
    path.write_bytes(content)
    assert stopped(caplog, {"SECRET_KEY_FILE": str(path)}) == one_line(message.format(path=path))


def test_a_key_file_is_utf8_whatever_the_locale(tmp_path):
    """A Python started in the C locale, without UTF-8 mode or locale coercion, reads files as ASCII
    by default: the key file is read as UTF-8 all the same. (A Python of its own, as the locale is
    fixed at start-up; it imports this checkout's wsgiapp.py, which reads the file at import.)"""
    key = "ключ-" * 8
    path = tmp_path / "keys"
    path.write_text(f"{key}\n", encoding="utf-8")
    path.chmod(0o600)
    # Here first (and so for mutmut, which runs a test against the functions it calls in process).
    assert settings_from({"SECRET_KEY_FILE": str(path)}).keys == (key,)
    env = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "SECRET_KEY_FILE": str(path)}
    show_keys = (
        "import locale, os, wsgiapp;"
        " print(locale.getpreferredencoding(False), ascii(wsgiapp.settings_from(os.environ).keys))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", show_keys],
        cwd=ROOT,
        env=server_env(env, tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (completed.returncode, completed.stderr) == (0, keys_line(key) + "\n")
    assert completed.stdout == f"ANSI_X3.4-1968 {(key,)!a}\n"


def test_a_key_file_that_cannot_be_read_stops_with_one_line(tmp_path, caplog):
    missing = tmp_path / "missing"
    assert stopped(caplog, {"SECRET_KEY_FILE": str(missing)}) == one_line(
        f"SECRET_KEY_FILE {missing} cannot be read: No such file or directory"
    )
    # No file can have a NUL in its name; a line break in the name is shown quoted, on one line.
    assert stopped(caplog, {"SECRET_KEY_FILE": "keys\x00"}) == one_line(
        "SECRET_KEY_FILE 'keys\\x00' cannot be read: no file can have that name"
    )
    assert stopped(caplog, {"SECRET_KEY_FILE": "ke\nys"}) == one_line(
        "SECRET_KEY_FILE 'ke\\nys' cannot be read: No such file or directory"
    )


NOT_REGULAR = "is not a regular file (a folder, a FIFO, a device...)"


@pytest.mark.parametrize("kind", ["folder", "FIFO", "device"])
def test_a_key_file_that_is_not_a_regular_file_stops_at_once(tmp_path, caplog, kind):
    """A FIFO is opened without waiting for a writer, /dev/zero is not read: neither can hang."""
    if kind == "folder":
        path = tmp_path
    elif kind == "FIFO":
        path = tmp_path / "keys"
        os.mkfifo(path, 0o600)
    else:
        path = "/dev/zero"
    assert stopped(caplog, {"SECRET_KEY_FILE": str(path)}) == one_line(
        f"SECRET_KEY_FILE {path} {NOT_REGULAR}"
    )


def test_a_key_file_over_64_kib_stops_with_one_line(tmp_path, caplog):
    path = tmp_path / "keys"
    line = TEST_KEY + "\n"
    lines = 64 * 1024 // len(line)
    # 64 KiB exactly, the rest of it blank lines: read.
    path.write_text(line * lines + "\n" * (64 * 1024 - lines * len(line)))
    path.chmod(0o600)
    assert path.stat().st_size == 64 * 1024
    assert settings_from({"SECRET_KEY_FILE": str(path)}).keys[0] == TEST_KEY
    with path.open("a") as file:
        file.write(line)
    assert stopped(caplog, {"SECRET_KEY_FILE": str(path)}) == one_line(
        f"SECRET_KEY_FILE {path} is larger than 64 KiB: it holds no keys"
    )


def test_a_key_file_roots_or_the_apps_users_is_read(tmp_path, monkeypatch):
    """root's file, read by an app that runs as another user (a Kubernetes Secret), and that user's."""
    path = key_file(tmp_path / "keys", TEST_KEY)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert path.stat().st_uid == 0 or os.getuid() != 0
    assert settings_from({"SECRET_KEY_FILE": str(path)}).keys == (TEST_KEY,)
    monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid)
    assert settings_from({"SECRET_KEY_FILE": str(path)}).keys == (TEST_KEY,)


def test_a_key_file_that_fails_when_read_stops_with_the_systems_reason(caplog):
    """Linux's /proc/self/mem is a regular file of this process's user, mode 0600, whose first bytes
    cannot be read: the error comes from read(), after the file was opened and found regular."""
    assert stopped(caplog, {"SECRET_KEY_FILE": "/proc/self/mem"}) == one_line(
        "SECRET_KEY_FILE /proc/self/mem cannot be read: Input/output error"
    )


def test_a_key_file_in_a_loop_of_links_stops_with_the_systems_reason(tmp_path, caplog):
    path = tmp_path / "keys"
    path.symlink_to(path)
    assert stopped(caplog, {"SECRET_KEY_FILE": str(path)}) == one_line(
        f"SECRET_KEY_FILE {path} cannot be read: Too many levels of symbolic links"
    )


def test_a_key_file_another_user_owns_stops_with_one_line(tmp_path, caplog):
    """Its owner could rewrite it, and so choose the key, whatever its mode."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user takes root (CI runs as root)")
    path = tmp_path / "keys"
    path.write_text(f"{TEST_KEY}\n")
    path.chmod(0o644)
    os.chown(path, OTHER_USER, OTHER_USER)
    assert stopped(caplog, {"SECRET_KEY_FILE": str(path)}) == one_line(
        f"SECRET_KEY_FILE {path} belongs to user {OTHER_USER}, who could choose the key: make it root's"
        f" or user {os.geteuid()}'s, who runs the app (chown)"
    )


@pytest.mark.parametrize("other", ["SECRET_KEY", "SECRET_KEY_FALLBACKS"])
def test_the_key_file_with_another_key_setting_stops_with_one_line(tmp_path, caplog, other):
    """Refused before the file is read: whether it holds a key or is missing."""
    keys = tmp_path / "keys"
    keys.write_text(TEST_KEY)
    for path in [keys, tmp_path / "missing"]:
        assert stopped(caplog, {"SECRET_KEY_FILE": str(path), other: OLD_KEY}) == one_line(
            f"SECRET_KEY_FILE and {other} are both set: drop {other}, and keep every key in the file,"
            " the one that signs first"
        )


# --- The generated key file ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["xdg", "home"])
def test_with_no_key_set_a_key_is_generated_once_private_and_logged(tmp_path, caplog, where):
    """In $XDG_STATE_HOME/wsgiapp, or ~/.local/state/wsgiapp when XDG_STATE_HOME is not absolute."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": "relative"}
    path = tmp_path / "state" / "wsgiapp" / "secret_key"
    if where == "home":
        env = {"HOME": str(tmp_path), "XDG_STATE_HOME": "relative/is/ignored"}
        path = tmp_path / ".local" / "state" / "wsgiapp" / "secret_key"
    with caplog.at_level(logging.WARNING, logger="wsgiapp"):
        (key,) = settings_from(env).keys
        assert settings_from(env).keys == (key,)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert path.read_text() == key + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # Nothing else is left in the folder.
    assert os.listdir(path.parent) == ["secret_key"]
    message = f"SECRET_KEY and SECRET_KEY_FILE are not set: signing with the generated key in {path}"
    assert log_records(caplog) == [("wsgiapp", "WARNING", f"wsgiapp: {message}")] * 2


def test_a_generated_key_is_made_in_a_folder_that_already_exists(tmp_path):
    (tmp_path / "wsgiapp").mkdir()
    keys = settings_from({"XDG_STATE_HOME": str(tmp_path)}).keys
    assert keys == ((tmp_path / "wsgiapp" / "secret_key").read_text().strip(),)


def test_a_generated_key_does_not_need_the_temporary_folder(tmp_path, monkeypatch):
    # TMPDIR may be missing or on another filesystem: the key is written beside its final name.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    keys = settings_from({"XDG_STATE_HOME": str(tmp_path)}).keys
    assert keys == ((tmp_path / "wsgiapp" / "secret_key").read_text().strip(),)


def make_key(args):
    state, barrier = args
    barrier.wait()
    return settings_from({"XDG_STATE_HOME": state}).keys[0]


def test_processes_starting_together_share_one_generated_key(tmp_path):
    """Eight processes ask for the key at the same moment: one makes it, all of them get it."""
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        barrier = manager.Barrier(8)
        with context.Pool(8) as pool:
            keys = pool.map(make_key, [(str(tmp_path), barrier)] * 8)
    assert len(set(keys)) == 1
    assert (tmp_path / "wsgiapp" / "secret_key").read_text() == keys[0] + "\n"
    assert os.listdir(tmp_path / "wsgiapp") == ["secret_key"]


def test_of_processes_starting_together_all_use_the_key_the_first_one_made(tmp_path, monkeypatch):
    path = tmp_path / "wsgiapp" / "secret_key"
    link = os.link

    def another_process_was_first(source, target):
        path.write_text(f"{TEST_KEY}\n")
        link(source, target)

    monkeypatch.setattr(os, "link", another_process_was_first)
    assert settings_from({"XDG_STATE_HOME": str(tmp_path)}).keys == (TEST_KEY,)
    assert os.listdir(path.parent) == ["secret_key"]


def test_a_bad_generated_key_file_stops_with_one_line_naming_it(tmp_path, caplog):
    path = tmp_path / "wsgiapp" / "secret_key"
    path.parent.mkdir()
    path.write_text("\n")
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        f"the generated key file {path} holds no key"
    )


def test_no_place_for_the_generated_key_stops_with_one_line(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert stopped(caplog, {"XDG_STATE_HOME": str(blocker)}) == one_line(
        "SECRET_KEY and SECRET_KEY_FILE are not set, and a generated key cannot be kept in"
        f" {blocker}/wsgiapp/secret_key (Not a directory): set SECRET_KEY or SECRET_KEY_FILE"
    )


@pytest.mark.parametrize(
    "env", [{}, {"HOME": "relative", "XDG_STATE_HOME": "also/relative"}], ids=["unset", "relative"]
)
def test_with_no_home_there_is_no_place_for_the_generated_key(caplog, env):
    assert stopped(caplog, env) == one_line(
        "SECRET_KEY and SECRET_KEY_FILE are not set, and with no HOME there is no place to keep a"
        " generated key: set SECRET_KEY or SECRET_KEY_FILE"
    )


# --- COOKIE_MAX_AGE's cap -----------------------------------------------------------------------


def test_cookie_max_age_is_at_most_400_days(caplog):
    """RFC 6265bis and Chrome cap a cookie's lifetime at 400 days; beyond it no date can be written
    for some values at all (year 33715)."""
    assert settings_from({"SECRET_KEY": TEST_KEY, "COOKIE_MAX_AGE": "34560000"}).max_age == 34560000
    for value in ("34560001", "999999999999", "9" * 20):
        assert stopped(caplog, {"SECRET_KEY": TEST_KEY, "COOKIE_MAX_AGE": value}) == one_line(
            f"COOKIE_MAX_AGE may be at most 34560000 seconds (400 days), not {value}"
        )
    # Past 20 digits, the number of digits: int() refuses more than 4,300 with an error of its own.
    for value in ("9" * 21, "0" * 21, "1" * 5000):
        assert stopped(caplog, {"SECRET_KEY": TEST_KEY, "COOKIE_MAX_AGE": value}) == one_line(
            f"COOKIE_MAX_AGE may be at most 34560000 seconds (400 days), not a number of {len(value)} digits"
        )


# --- Keys you can trust -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666, 0o777])
def test_a_key_file_others_can_write_stops_with_one_line(tmp_path, caplog, mode):
    path = key_file(tmp_path / "keys", TEST_KEY)
    path.chmod(mode)
    assert stopped(caplog, {"SECRET_KEY_FILE": str(path)}) == one_line(
        f"SECRET_KEY_FILE {path} can be written by others than its owner: chmod go-w it"
    )


@pytest.mark.parametrize(("mode", "warned"), [(0o400, False), (0o600, False), (0o640, False), (0o644, True)])
def test_a_key_file_every_user_can_read_is_used_with_one_warning(tmp_path, caplog, mode, warned):
    path = key_file(tmp_path / "keys", TEST_KEY)
    path.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="wsgiapp"):
        assert settings_from({"SECRET_KEY_FILE": str(path)}).keys == (TEST_KEY,)
    message = f"SECRET_KEY_FILE {path} can be read by every user of the machine: chmod 600 it"
    assert log_records(caplog) == ([("wsgiapp", "WARNING", f"wsgiapp: {message}")] if warned else [])


def test_a_key_file_is_read_through_symbolic_links(tmp_path):
    """Kubernetes' Secret volumes and systemd's credentials are links: they are followed."""
    path = kubernetes_secret(tmp_path, TEST_KEY) / "keys"
    assert settings_from({"SECRET_KEY_FILE": str(path)}).keys == (TEST_KEY,)


def test_a_key_file_behind_links_is_judged_by_the_file_they_lead_to(tmp_path, caplog):
    path = kubernetes_secret(tmp_path, TEST_KEY, mode=0o666) / "keys"
    assert stopped(caplog, {"SECRET_KEY_FILE": str(path)}) == one_line(
        f"SECRET_KEY_FILE {path} can be written by others than its owner: chmod go-w it"
    )


def test_a_generated_key_file_that_is_a_link_stops_with_one_line(tmp_path, caplog):
    """Whoever could plant the link would choose the key: /etc/hostname is no secret."""
    folder = tmp_path / "wsgiapp"
    folder.mkdir(mode=0o700)
    target = key_file(tmp_path / "chosen", TEST_KEY)
    (folder / "secret_key").symlink_to(target)
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        f"the generated key file {folder / 'secret_key'} cannot be read: it is a symbolic link"
    )
    (folder / "secret_key").unlink()
    (folder / "secret_key").symlink_to(tmp_path / "missing")
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        f"the generated key file {folder / 'secret_key'} cannot be read: it is a symbolic link"
    )


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_generated_key_in_a_folder_others_can_write_stops_with_one_line(tmp_path, caplog, mode):
    folder = tmp_path / "wsgiapp"
    folder.mkdir()
    folder.chmod(mode)
    key_file(folder / "secret_key", TEST_KEY)
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        f"the generated key's folder {folder} can be written by others than its owner: chmod go-w it"
    )


def test_a_generated_key_file_others_can_write_stops_with_one_line(tmp_path, caplog):
    (tmp_path / "wsgiapp").mkdir(mode=0o700)
    path = key_file(tmp_path / "wsgiapp" / "secret_key", TEST_KEY)
    path.chmod(0o622)
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        f"the generated key file {path} can be written by others than its owner: chmod go-w it"
    )


# Another user: nobody, as Debian numbers it.
OTHER_USER = 65534


@pytest.mark.parametrize("what", ["folder", "file"])
def test_a_generated_key_another_user_made_stops_with_one_line(tmp_path, caplog, what):
    """The folder and the file must be the running user's own: whoever made them chose the key."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user takes root (CI runs as root)")
    folder = tmp_path / "wsgiapp"
    folder.mkdir(mode=0o700)
    path = key_file(folder / "secret_key", TEST_KEY)
    owned = {"folder": folder, "file": path}[what]
    os.chown(owned, OTHER_USER, OTHER_USER)
    name = {"folder": f"the generated key's folder {folder}", "file": f"the generated key file {path}"}[what]
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        f"{name} belongs to user {OTHER_USER}, not to user 0 who runs the app: remove it"
    )


# --- Importing the module -----------------------------------------------------------------------


def python(code, env):
    """Run code in a Python of its own, in the repository: (exit status, stdout, stderr)."""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    return run.returncode, run.stdout, run.stderr


def test_importing_the_module_builds_the_application_from_the_environment(tmp_path):
    """As a server imports it: `application` is built from the settings, and the log names its keys."""
    env = server_env({"SECRET_KEY": TEST_KEY, "SECRET_KEY_FALLBACKS": OLD_KEY}, tmp_path)
    sign_alice = "import wsgiapp; print(wsgiapp.application.cookie.signer.sign('alice').decode())"
    status, out, err = python(sign_alice, env)
    assert (status, err) == (0, keys_line(TEST_KEY, OLD_KEY) + "\n")
    assert out == sign("alice", TEST_KEY, at=issued_at(f"userID={out.strip()}")) + "\n"


def test_a_bad_setting_stops_the_import_with_one_line(tmp_path):
    env = server_env({"COOKIE_MAX_AGE": "abc"}, tmp_path)
    assert python("import wsgiapp; print('imported')", env) == (
        4,
        "",
        "wsgiapp: COOKIE_MAX_AGE must be a positive whole number of seconds, not 'abc'\n",
    )
    assert os.listdir(tmp_path) == []


def test_with_no_key_set_the_import_makes_the_key_and_names_it(tmp_path):
    env = server_env({}, tmp_path)
    status, out, err = python("import wsgiapp", env)
    path = tmp_path / "wsgiapp" / "secret_key"
    assert (status, out) == (0, "")
    assert err == (
        f"wsgiapp: SECRET_KEY and SECRET_KEY_FILE are not set: signing with the generated key in {path}\n"
        + keys_line(path.read_text().strip())
        + "\n"
    )


def test_application_is_a_plain_attribute_of_the_module():
    """uWSGI and other C loaders look `application` up in the module's __dict__, not with getattr."""
    import wsgiapp

    assert isinstance(vars(wsgiapp)["application"], wsgiapp.App)


def test_a_generated_key_file_that_cannot_be_read_stops_with_one_line(tmp_path, caplog):
    """Not a link, but not a file either: the reason is the system's."""
    path = tmp_path / "wsgiapp" / "secret_key"
    path.mkdir(parents=True)
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        f"the generated key file {path} {NOT_REGULAR}"
    )


def test_a_state_folder_no_folder_can_have_stops_with_one_line(tmp_path, caplog):
    """A NUL in XDG_STATE_HOME: no folder has that name, and the name is shown quoted, on one line."""
    state = f"{tmp_path}\x00"
    assert stopped(caplog, {"XDG_STATE_HOME": state}) == one_line(
        "SECRET_KEY and SECRET_KEY_FILE are not set, and a generated key cannot be kept in"
        f" {str(Path(state, 'wsgiapp', 'secret_key'))!r} (no folder can have that name):"
        " set SECRET_KEY or SECRET_KEY_FILE"
    )


def test_a_generated_key_that_cannot_be_written_stops_with_one_line(tmp_path, caplog, monkeypatch):
    """A folder the app may not write (a read-only file system; root writes any other folder)."""

    def read_only(**kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert stopped(caplog, {"XDG_STATE_HOME": str(tmp_path)}) == one_line(
        "SECRET_KEY and SECRET_KEY_FILE are not set, and a generated key cannot be kept in"
        f" {tmp_path}/wsgiapp/secret_key (Read-only file system): set SECRET_KEY or SECRET_KEY_FILE"
    )
    assert os.listdir(tmp_path / "wsgiapp") == []


# --- The log ------------------------------------------------------------------------------------


def test_building_the_app_names_its_keys_by_fingerprint(caplog):
    with caplog.at_level(logging.INFO, logger="wsgiapp"):
        app = app_from({"SECRET_KEY": TEST_KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY},{OLDER_KEY}"})
        app_from({"SECRET_KEY": OLD_KEY})
    assert log_records(caplog) == [
        ("wsgiapp", "INFO", keys_line(TEST_KEY, OLD_KEY, OLDER_KEY)),
        ("wsgiapp", "INFO", keys_line(OLD_KEY)),
    ]
    value = app.cookie.signer.sign("alice").decode()
    assert value == sign_payload("alice", TEST_KEY, at=issued_at(value))


@pytest.fixture
def gunicorn_error_log():
    """gunicorn's error logger as gunicorn sets it up (a handler, its level, not propagating), with
    a handler that keeps what reaches it; put back as it was after."""
    error_log = logging.getLogger("gunicorn.error")
    kept = (error_log.handlers[:], error_log.level, error_log.propagate)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    error_log.handlers = [handler]
    error_log.propagate = False
    yield error_log, records
    error_log.handlers, error_log.level, error_log.propagate = kept


def test_under_gunicorn_the_apps_lines_go_to_its_error_log_at_its_level(gunicorn_error_log):
    """gunicorn's own handlers write them, in its format and to its file; below its --log-level, not."""
    error_log, records = gunicorn_error_log
    handler = log_handler()
    assert isinstance(handler, GunicornErrorLog)
    error_log.setLevel(logging.WARNING)
    info = logging.makeLogRecord({"name": "wsgiapp", "levelno": logging.INFO, "msg": "wsgiapp: keys"})
    warning = logging.makeLogRecord({"name": "wsgiapp", "levelno": logging.WARNING, "msg": "wsgiapp: short"})
    handler.handle(info)
    handler.handle(warning)
    assert records == [warning]


def test_elsewhere_the_apps_lines_go_to_stderr():
    """Outside gunicorn (its error logger has no handler), as uWSGI, mod_wsgi and waitress collect it."""
    assert not logging.getLogger("gunicorn.error").handlers
    handler = log_handler()
    assert type(handler) is logging.StreamHandler
    assert handler.stream is sys.stderr


# --- Any setting, however malformed -------------------------------------------------------------

# Text as the environment can hold it: any character but NUL (which no environment variable holds),
# with surrogates for the bytes that are not UTF-8 (os.environ's surrogateescape).
env_text = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40
) | st.text(st.sampled_from("0123456789\u0663\u0660+- \t\n,\udcff\u00a0\u200b"), max_size=12)


@given(
    key=st.none() | env_text,
    fallbacks=st.none() | env_text,
    key_file=st.none() | env_text,
    max_age=st.none()
    | env_text
    | st.builds(str.__mul__, st.sampled_from("0123456789"), st.integers(1, 6000)),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_setting_is_read_or_refused_with_one_line(tmp_path, key, fallbacks, key_file, max_age):
    """settings_from either reads the settings or refuses them with a SettingsError of one line,
    never another exception: thousands of digits, other scripts' digits, signs, spaces, control
    characters, any file name. With no key set, the generated key is kept in a folder of the test's."""
    env = {"XDG_STATE_HOME": str(tmp_path)}
    for name, value in [
        ("SECRET_KEY", key),
        ("SECRET_KEY_FALLBACKS", fallbacks),
        ("SECRET_KEY_FILE", key_file),
        ("COOKIE_MAX_AGE", max_age),
    ]:
        if value is not None:
            env[name] = value
    try:
        settings = settings_from(env)
    except SettingsError as error:
        assert str(error) and "\n" not in str(error) and "\r" not in str(error)
    else:
        assert settings.keys and (settings.max_age is None or 0 < settings.max_age <= 400 * 24 * 3600)
