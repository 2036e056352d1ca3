"""The app in its two real servers, gunicorn and Werkzeug's development server, over HTTP."""

import concurrent.futures

import pytest

from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.oracle import CLEARED
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome
from tests.helpers.servers import ACCESS_LOG_WITH_PID
from tests.helpers.servers import answering_workers
from tests.helpers.servers import booted_workers
from tests.helpers.servers import devserver_command
from tests.helpers.servers import free_port
from tests.helpers.servers import gunicorn_command
from tests.helpers.servers import serve
from tests.helpers.servers import wait_for

COMMANDS = {"gunicorn": gunicorn_command, "devserver": devserver_command}


@pytest.mark.parametrize("server", COMMANDS)
@pytest.mark.parametrize("name", ["alice", "Zoë 李 🍪", "<b>bob</b> & 'eve'"])
def test_the_whole_flow(server, name):
    port = free_port()
    with serve(COMMANDS[server](port), port, env={"SECRET_KEY": TEST_KEY}) as app:
        page = fetch(app.url + "/")
        assert page.status == 200
        assert '<form action="/setcookie" method="POST">' in page.text

        login = fetch(app.url + "/setcookie", **form(name))
        assert login.status == 200
        assert '<a href="/getcookie">Click here to read cookie</a>' in login.text
        at = issued_at(login.cookie_pair())
        assert set(login.cookie_header().split("; ")) == {
            signed(name, at=at),
            "HttpOnly",
            "Path=/",
            "SameSite=Lax",
        }
        assert login.header("Cache-Control") == "no-store"

        greeting = fetch(app.url + "/getcookie", headers={"Cookie": login.cookie_pair()})
        assert greeting.status == 200
        assert welcome(name) in greeting.text
        assert greeting.values("Set-Cookie") == []

        logout = fetch(app.url + "/deletecookie", method="POST", headers={"Cookie": login.cookie_pair()})
        assert logout.status == 303
        assert logout.header("Location") == "/"
        assert set(logout.cookie_header().split("; ")) == CLEARED

        nobody = fetch(app.url + "/getcookie")
        assert nobody.status == 200
        assert "<h1>No user is set</h1>" in nobody.text


@pytest.mark.parametrize("server", COMMANDS)
def test_a_forged_cookie_is_refused_and_cleared(server):
    port = free_port()
    with serve(COMMANDS[server](port), port, env={"SECRET_KEY": TEST_KEY}) as app:
        forged = signed("alice", key="another-key")
        answer = fetch(app.url + "/getcookie", headers={"Cookie": forged})
        assert answer.status == 200
        assert "<h1>No user is set</h1>" in answer.text
        assert answer.cookie_pair() == "userID="


@pytest.mark.parametrize("server", COMMANDS)
def test_a_cross_site_post_is_refused(server):
    port = free_port()
    with serve(COMMANDS[server](port), port, env={"SECRET_KEY": TEST_KEY}) as app:
        post = form("mallory")
        post["headers"] = {**post["headers"], "Origin": "http://localhost:1"}
        answer = fetch(app.url + "/setcookie", **post)
        assert answer.status == 403
        assert answer.values("Set-Cookie") == []
        same_origin = form("alice")
        same_origin["headers"] = {**same_origin["headers"], "Origin": app.url}
        assert fetch(app.url + "/setcookie", **same_origin).status == 200


WORKERS = 3


def test_workers_share_the_generated_key():
    """No key set: every worker signs with the generated key, kept in one file, so every worker
    accepts the cookie."""
    port = free_port()
    command = gunicorn_command(port, "--workers", str(WORKERS), *ACCESS_LOG_WITH_PID)
    with serve(command, port) as app:
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
        assert [(answer.status, welcome("alice") in answer.text) for answer in answers] == [
            (200, True)
        ] * len(answers)
