"""Settings: the keys (SECRET_KEY and its fallbacks, SECRET_KEY_FILE, the generated key file) and
COOKIE_MAX_AGE, read into a Settings value, in process (tests/test_settings_servers.py: what the real
servers do with them)."""

import logging
import multiprocessing
import os
import stat

import pytest

from wsgiapp import Settings
from wsgiapp import SettingsError
from wsgiapp import settings_from

KEY = "k" * 32
OLD_KEY = "o" * 32
OLDER_KEY = "p" * 32


# --- SECRET_KEY and SECRET_KEY_FALLBACKS --------------------------------------------------------


def test_the_key_alone():
    assert settings_from({"SECRET_KEY": KEY}) == Settings((KEY,), None)


def test_the_key_and_its_fallbacks_in_order():
    env = {"SECRET_KEY": KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY},{OLDER_KEY}"}
    assert settings_from(env).keys == (KEY, OLD_KEY, OLDER_KEY)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": f" {KEY}"}, "SECRET_KEY has whitespace at its start or end"),
        ({"SECRET_KEY": f"{KEY}\t"}, "SECRET_KEY has whitespace at its start or end"),
        (
            {"SECRET_KEY": f"{KEY},x"},
            "SECRET_KEY holds a comma, so it could not be listed in SECRET_KEY_FALLBACKS",
        ),
        ({"SECRET_KEY": f"{KEY}\x00x"}, "SECRET_KEY holds a control character"),
        (
            {"SECRET_KEY": KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY}, {OLDER_KEY}"},
            "key 2 of SECRET_KEY_FALLBACKS has whitespace at its start or end",
        ),
        (
            {"SECRET_KEY": KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY},,{OLDER_KEY}"},
            "key 2 of SECRET_KEY_FALLBACKS is empty",
        ),
        (
            {"SECRET_KEY": KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY},"},
            "key 2 of SECRET_KEY_FALLBACKS is empty",
        ),
        (
            {"SECRET_KEY_FALLBACKS": OLD_KEY},
            "SECRET_KEY_FALLBACKS is set without SECRET_KEY, the key that signs: set both",
        ),
    ],
)
def test_a_key_that_could_not_be_written_down_unchanged_is_refused(env, message):
    with pytest.raises(SettingsError) as refused:
        settings_from(env)
    assert str(refused.value) == message


def test_a_short_key_is_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="wsgiapp"):
        assert settings_from({"SECRET_KEY": "short"}).keys == ("short",)
    assert caplog.messages == ["SECRET_KEY has 5 characters: use at least 32 random ones"]


# --- COOKIE_MAX_AGE -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("", None), ("3600", 3600), ("1", 1)])
def test_cookie_max_age(value, expected):
    assert settings_from({"SECRET_KEY": KEY, "COOKIE_MAX_AGE": value}).max_age == expected


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "soon", "١٢", " 60", "abc"])
def test_a_cookie_max_age_that_is_not_a_positive_integer_is_refused(value):
    with pytest.raises(SettingsError) as refused:
        settings_from({"SECRET_KEY": KEY, "COOKIE_MAX_AGE": value})
    assert str(refused.value) == f"COOKIE_MAX_AGE must be a positive whole number of seconds, not {value!r}"


# --- SECRET_KEY_FILE ----------------------------------------------------------------------------


def test_the_key_file_first_line_signs_the_others_verify(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"\n{KEY}\r\n\n{OLD_KEY}\n   \n{OLDER_KEY}")
    assert settings_from({"SECRET_KEY_FILE": str(path)}) == Settings((KEY, OLD_KEY, OLDER_KEY), None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "SECRET_KEY_FILE {path} holds no key"),
        (b"\n  \n\n", "SECRET_KEY_FILE {path} holds no key"),
        (KEY.encode() + b" \n", "line 1 of SECRET_KEY_FILE {path} has whitespace at its start or end"),
        (
            f"{KEY}\n\n {OLD_KEY}\n".encode(),
            "line 3 of SECRET_KEY_FILE {path} has whitespace at its start or end",
        ),
        (
            f"{KEY},{OLD_KEY}\n".encode(),
            "line 1 of SECRET_KEY_FILE {path} holds a comma,"
            " so it could not be listed in SECRET_KEY_FALLBACKS",
        ),
        (b"\xff" * 32, "SECRET_KEY_FILE {path} is not UTF-8 text"),
    ],
    ids=["empty", "blank", "trailing-space", "leading-space", "comma", "not-utf8"],
)
def test_a_bad_key_file_is_refused(tmp_path, content, message):
    path = tmp_path / "keys"
    path.write_bytes(content)
    with pytest.raises(SettingsError) as refused:
        settings_from({"SECRET_KEY_FILE": str(path)})
    assert str(refused.value) == message.format(path=path)


def test_a_key_file_that_cannot_be_read_is_refused(tmp_path):
    for path, reason in [(tmp_path / "missing", "No such file or directory"), (tmp_path, "Is a directory")]:
        with pytest.raises(SettingsError) as refused:
            settings_from({"SECRET_KEY_FILE": str(path)})
        assert str(refused.value) == f"SECRET_KEY_FILE {path} cannot be read: {reason}"


@pytest.mark.parametrize("other", ["SECRET_KEY", "SECRET_KEY_FALLBACKS"])
def test_the_key_file_with_another_key_setting_is_refused(tmp_path, other):
    path = tmp_path / "keys"
    path.write_text(KEY)
    with pytest.raises(SettingsError) as refused:
        settings_from({"SECRET_KEY_FILE": str(path), other: OLD_KEY})
    assert str(refused.value) == (
        f"SECRET_KEY_FILE and {other} are both set: drop {other}, and keep every key in the file,"
        " the one that signs first"
    )


# --- The generated key file ---------------------------------------------------------------------


def test_with_no_key_set_a_key_is_generated_once_and_kept(tmp_path, caplog):
    env = {"XDG_STATE_HOME": str(tmp_path)}
    path = tmp_path / "wsgiapp" / "secret_key"
    with caplog.at_level(logging.WARNING, logger="wsgiapp"):
        (key,) = settings_from(env).keys
    assert path.read_text() == key + "\n"
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert caplog.messages == [
        f"SECRET_KEY and SECRET_KEY_FILE are not set: signing with the generated key in {path}"
    ]
    assert settings_from(env).keys == (key,)
    # Nothing else is left in the folder.
    assert os.listdir(path.parent) == ["secret_key"]


def test_the_generated_key_lives_under_home_without_xdg_state_home(tmp_path):
    (key,) = settings_from({"HOME": str(tmp_path), "XDG_STATE_HOME": "relative/is/ignored"}).keys
    assert (tmp_path / ".local" / "state" / "wsgiapp" / "secret_key").read_text() == key + "\n"


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


def test_no_place_for_the_generated_key_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SettingsError) as refused:
        settings_from({"XDG_STATE_HOME": str(blocker)})
    assert str(refused.value) == (
        f"SECRET_KEY and SECRET_KEY_FILE are not set, and a generated key cannot be kept in"
        f" {blocker}/wsgiapp/secret_key (Not a directory): set SECRET_KEY or SECRET_KEY_FILE"
    )
    with pytest.raises(SettingsError) as refused:
        settings_from({})
    assert str(refused.value) == (
        "SECRET_KEY and SECRET_KEY_FILE are not set, and with no HOME there is no place to keep a"
        " generated key: set SECRET_KEY or SECRET_KEY_FILE"
    )
