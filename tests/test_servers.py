"""The app in real servers, over HTTP: the route table under every WSGI server's own loader
(gunicorn, Werkzeug's development server, waitress, uWSGI, mod_wsgi), and the whole flow, a forged
cookie and a cross-site post under gunicorn and the development server."""

import concurrent.futures
import http.client
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from pathlib import Path

import pytest

from bench.servers import answers
from bench.servers import free_port
from bench.servers import gunicorn_command
from bench.servers import read_log
from bench.servers import server_env
from bench.servers import stop
from bench.servers import wait_for
from tests.helpers.answer import attributes
from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.answer import parse_response
from tests.helpers.answer import raw_request
from tests.helpers.answer import send_raw
from tests.helpers.live import copy_of_the_app
from tests.helpers.oracle import ALLOW
from tests.helpers.oracle import CLEARED
from tests.helpers.oracle import COOKIE_ATTRIBUTES
from tests.helpers.oracle import INDEX
from tests.helpers.oracle import NOT_ALLOWED
from tests.helpers.oracle import NOT_FOUND
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import message_answer
from tests.helpers.oracle import page
from tests.helpers.oracle import page_headers
from tests.helpers.oracle import private_headers
from tests.helpers.oracle import set_cookie
from tests.helpers.oracle import sign
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome
from tests.helpers.oracle import welcome_answer
from tests.helpers.servers import ACCESS_LOG_WITH_PID
from tests.helpers.servers import answering_workers
from tests.helpers.servers import booted_workers
from tests.helpers.servers import devserver_command
from tests.helpers.servers import mod_wsgi_command
from tests.helpers.servers import uwsgi_command
from tests.helpers.servers import waitress_command

# Starts real servers: .ci/run runs these on every Python version (pyproject.toml, markers).
pytestmark = [pytest.mark.slow, pytest.mark.every_python]
# uWSGI and mod_wsgi run Debian's own Python, whatever Python runs the tests: .ci/run runs them once.
DEBIAN_PYTHON = pytest.mark.debian_python

COMMANDS = {"gunicorn": gunicorn_command, "devserver": devserver_command}


@pytest.fixture
def open_folder():
    """A folder every user can read, as Apache's user nobody must (pytest's tmp_path is root's
    only), removed once the servers started in it are stopped."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)
        yield Path(folder)


def loaded_by(server: str, folder: Path) -> tuple[Callable[[int], list[str]], Path]:
    """The command, for a port, that has this server load `application` its own way, and the folder
    it runs in."""
    if server in COMMANDS:
        return COMMANDS[server], ROOT
    if server == "waitress":
        return waitress_command, ROOT
    if server == "uwsgi --module":
        return lambda port: uwsgi_command(port, "--module", "wsgiapp:application"), ROOT
    if server == "uwsgi --wsgi-file":
        return lambda port: uwsgi_command(port, "--wsgi-file", "wsgiapp.py"), ROOT
    # mod_wsgi runs the app as nobody: a copy of the module and its pages in a folder every user can read.
    copy_of_the_app(folder)
    return partial(mod_wsgi_command, script=folder / "wsgiapp.py", server_root=folder / "apache"), folder


# The headers a server adds to every answer of its own: the rest is the app's.
SERVERS_OWN = {"date", "server", "connection", "keep-alive"}


def unordered(answer: tuple[str, list, bytes]) -> tuple[str, list, bytes]:
    """An exact answer with its headers sorted: waitress sorts them, and their order carries no
    meaning here (no name is sent twice)."""
    status, headers, body = answer
    return status, sorted(headers), body


def as_sent_by_the_app(answer) -> tuple[str, list, bytes]:
    """The status line, the app's headers, sorted, and the body."""
    headers = [(name, value) for name, value in answer.headers if name.lower() not in SERVERS_OWN]
    return unordered((f"{answer.status} {answer.reason}", headers, answer.body))


NAME = "José 李 <b>"
LOADERS = [
    "gunicorn",
    "devserver",
    "waitress",
    pytest.param("uwsgi --module", marks=DEBIAN_PYTHON),
    pytest.param("uwsgi --wsgi-file", marks=DEBIAN_PYTHON),
    pytest.param("mod_wsgi", marks=DEBIAN_PYTHON),
]


@pytest.mark.parametrize("server", LOADERS)
def test_every_server_loads_the_application_its_own_way(open_folder, start_server, server):
    """The route table, answer for answer as the app gives it: the form, a login with a name that
    needs encoding and escaping, the welcome, a 404 and a 405 with Allow."""
    command, cwd = loaded_by(server, open_folder)
    app = start_server(command=command, cwd=cwd)
    index = fetch(app.url + "/")
    assert as_sent_by_the_app(index) == unordered(("200 OK", page_headers(INDEX), INDEX))

    login = fetch(app.url + "/setcookie", **form(NAME))
    cookie = login.cookie_pair()
    body = page("readcookie", title="Cookie set")
    cookie_set = set_cookie(f"userID={sign(NAME, at=issued_at(cookie))}")
    expected = ("200 OK", private_headers(body, cookie_set), body)
    assert as_sent_by_the_app(login) == unordered(expected)

    greeting = fetch(app.url + "/getcookie", headers={"Cookie": cookie})
    assert as_sent_by_the_app(greeting) == unordered(welcome_answer(NAME))

    missing = fetch(app.url + "/nowhere")
    expected = message_answer(HTTPStatus.NOT_FOUND, NOT_FOUND)
    assert as_sent_by_the_app(missing) == unordered(expected)

    put = fetch(app.url + "/", method="PUT")
    allow = ALLOW["/"]
    expected = message_answer(HTTPStatus.METHOD_NOT_ALLOWED, NOT_ALLOWED, ("Allow", allow))
    assert as_sent_by_the_app(put) == unordered(expected)


BAD_SETTING = "wsgiapp: COOKIE_MAX_AGE must be a positive whole number of seconds, not 'abc'"


@pytest.mark.parametrize(
    "server",
    [
        "waitress",
        pytest.param("uwsgi --module", marks=DEBIAN_PYTHON),
        pytest.param("uwsgi --wsgi-file", marks=DEBIAN_PYTHON),
    ],
)
def test_a_bad_setting_stops_the_server_that_loads_the_app(tmp_path, server):
    """waitress and uWSGI import the app at start: a bad setting stops them, with the one line."""
    command, cwd = loaded_by(server, tmp_path)
    run = subprocess.run(
        command(free_port()),
        cwd=cwd,
        env=server_env({"COOKIE_MAX_AGE": "abc"}, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 4
    assert [line for line in (run.stdout + run.stderr).splitlines() if "wsgiapp" in line] == [BAD_SETTING]


@DEBIAN_PYTHON
def test_with_a_bad_setting_mod_wsgi_serves_no_app(open_folder):
    """mod_wsgi loads the script at start (mod_wsgi-express preloads it), logs the line, and answers
    every request with its own 500 while the setting stays bad: never an app on other settings."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        command, cwd = loaded_by("mod_wsgi", open_folder)
        process = subprocess.Popen(
            command(port),
            cwd=cwd,
            env=server_env({"COOKIE_MAX_AGE": "abc"}, open_folder),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def output() -> str:
            return read_log(log)

        try:
            wait_for(lambda: answers(f"http://127.0.0.1:{port}/", process, output, status=500), 30, output)
            assert fetch(f"http://127.0.0.1:{port}/getcookie").status == 500
            assert "[wsgi:error] [pid " in output()
            assert f"] {BAD_SETTING}\n" in output()
        finally:
            stop(process)


@pytest.mark.parametrize("server", COMMANDS)
@pytest.mark.parametrize("name", ["alice", "Zoë 李 🍪", "<b>bob</b> & 'eve'"])
def test_the_whole_flow(start_server, server, name):
    app = start_server(command=COMMANDS[server])
    page = fetch(app.url + "/")
    assert page.status == 200
    assert '<form action="/setcookie" method="POST">' in page.text

    login = fetch(app.url + "/setcookie", **form(name))
    assert login.status == 200
    assert '<a href="/getcookie">Click here to read cookie</a>' in login.text
    at = issued_at(login.cookie_pair())
    assert attributes(login.cookie_header()) == {signed(name, at=at), *COOKIE_ATTRIBUTES}
    assert login.header("Cache-Control") == "no-store"

    greeting = fetch(app.url + "/getcookie", headers={"Cookie": login.cookie_pair()})
    assert greeting.status == 200
    assert welcome(name) in greeting.text
    assert greeting.values("Set-Cookie") == []

    logout = fetch(app.url + "/deletecookie", method="POST", headers={"Cookie": login.cookie_pair()})
    assert logout.status == 303
    assert logout.header("Location") == "/"
    assert attributes(logout.cookie_header()) == CLEARED

    nobody = fetch(app.url + "/getcookie")
    assert nobody.status == 200
    assert "<h1>No user is set</h1>" in nobody.text


@pytest.mark.parametrize("server", COMMANDS)
def test_a_forged_cookie_is_refused_and_cleared(start_server, server):
    app = start_server(command=COMMANDS[server])
    forged = signed("alice", key="another-key")
    answer = fetch(app.url + "/getcookie", headers={"Cookie": forged})
    assert answer.status == 200
    assert "<h1>No user is set</h1>" in answer.text
    assert answer.cookie_pair() == "userID="


@pytest.mark.parametrize("server", COMMANDS)
def test_a_cross_site_post_is_refused(start_server, server):
    app = start_server(command=COMMANDS[server])
    answer = fetch(app.url + "/setcookie", **form("mallory", {"Origin": "http://localhost:1"}))
    assert answer.status == 403
    assert answer.values("Set-Cookie") == []
    assert fetch(app.url + "/setcookie", **form("alice", {"Origin": app.url})).status == 200


WORKERS = 3


def test_workers_share_the_generated_key(start_server):
    """No key set: every worker signs with the generated key, kept in one file, so every worker
    accepts the cookie."""
    app = start_server("--workers", str(WORKERS), *ACCESS_LOG_WITH_PID, key=None)
    assert "signing with the generated key in" in app.output()
    cookie = fetch(app.url + "/setcookie", **form("alice")).cookie_pair()
    wait_for(lambda: len(booted_workers(app)) == WORKERS)
    workers = set(booted_workers(app))

    # Concurrent requests until every worker has answered one: a busy worker leaves the next
    # connection to another. 50 rounds is far more than needed, whatever the worker class.
    answers = []
    with concurrent.futures.ThreadPoolExecutor(WORKERS * 2) as pool:
        for _ in range(50):
            urls = [app.url + "/getcookie"] * WORKERS * 2
            answers += pool.map(lambda url: fetch(url, headers={"Cookie": cookie}), urls)
            if set(answering_workers(app, "GET /getcookie")) == workers:
                break
    assert set(answering_workers(app, "GET /getcookie")) == workers
    assert [(answer.status, welcome("alice") in answer.text) for answer in answers] == [(200, True)] * len(
        answers
    )


def test_the_development_server_serves_edits_to_the_code_and_the_pages(start_server, tmp_path):
    """What the README says to run while editing: its reloader restarts the server when wsgiapp.py or
    a page of html/ changes (gunicorn --reload cannot: tests/test_reload.py)."""
    copy_of_the_app(tmp_path)

    def with_its_reloader(port: int) -> list[str]:
        return [arg for arg in devserver_command(port) if arg != "--no-reload"]

    app = start_server(command=with_its_reloader, cwd=tmp_path)
    index = tmp_path / "html" / "index.html"
    index.write_text(index.read_text().replace("Enter userID</label>", "Edited</label>"))
    wait_for(lambda: "Edited</label>" in text_of(app.url + "/"), output=app.output)
    module = tmp_path / "wsgiapp.py"
    module.write_text(module.read_text().replace(f'"{NOT_FOUND}"', '"Nothing."'))
    wait_for(lambda: "<p>Nothing.</p>" in text_of(app.url + "/nowhere"), output=app.output)


def text_of(url: str) -> str:
    """The page at url; none while the server restarts (refused, or cut off by the restart)."""
    try:
        return fetch(url).text
    except (OSError, http.client.HTTPException):
        return ""


def get_with_cookie_lines(port: int, *lines: str):
    """GET /getcookie over a raw socket, with each of lines as a Cookie header line of its own."""
    request = raw_request("GET", "/getcookie", [f"Cookie: {line}" for line in lines])
    return parse_response(send_raw(port, request))


# About 7 KB in all: gunicorn refuses a header line over limit_request_field_size (8190 bytes).
NEIGHBOURS = "; ".join(f"n{number}=v{number:02d}" for number in range(640))


def test_under_gunicorn_neighbours_never_disturb_the_user(start_server):
    """Over a raw socket to gunicorn: a sibling's lone quotes around the user's cookie, 8 KB of
    neighbours, and two Cookie lines, which gunicorn joins with "," (in either order: nobody
    welcomed, nothing cleared)."""
    app = start_server()
    value = sign("alice", at=int(time.time()))
    for header in [f'a="; userID={value}; b="', f"{NEIGHBOURS}; userID={value}"]:
        answer = get_with_cookie_lines(app.port, header)
        assert (answer.status, welcome("alice") in answer.text, answer.values("Set-Cookie")) == (
            200,
            True,
            [],
        )
    for lines in [(f"userID={value}", "a=b; c=d"), ("a=b; c=d", f"userID={value}")]:
        answer = get_with_cookie_lines(app.port, *lines)
        assert (answer.status, answer.values("Set-Cookie")) == (200, [])
        assert "<h1>No user is set</h1>" in answer.text
    assert app.process.poll() is None
