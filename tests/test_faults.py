"""Faults under load: a worker killed, the master reloaded, an instance behind nginx restarted.

The load is bounded: THREADS client threads, each sending GET /getcookie with a cookie on a new
connection, one after another with a short pause, at most LIMIT requests in all. Each test prints
its figures (run pytest with -s to see them).
"""

import contextlib
import html
import http.client
import itertools
import os
import signal
import ssl
import threading
import time

import pytest

from bench.servers import free_port
from bench.servers import gunicorn_command
from bench.servers import serve
from bench.servers import wait_for
from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.oracle import TEST_KEY
from tests.helpers.servers import ACCESS_LOG_WITH_PID
from tests.helpers.servers import answering_workers
from tests.helpers.servers import booted_workers
from tests.helpers.servers import make_tls
from tests.helpers.servers import require_nginx
from tests.helpers.servers import run_nginx

# Slow real-server suites: .ci/run runs them on one Python version (pyproject.toml, markers).
pytestmark = pytest.mark.slow

THREADS = 2
LIMIT = 20_000
PAUSE = 0.005
# Requests that must succeed before a fault, and after the server has recovered from it.
STEADY = 50
WELCOME = f"<h1>welcome {html.escape('alice')}</h1>"


class Load:
    """THREADS threads asking for /getcookie until stopped; every answer is recorded in order."""

    def __init__(self, url: str, cookie: str, context: ssl.SSLContext | None = None):
        self.url = url + "/getcookie"
        self.headers = {"Cookie": cookie}
        self.context = context
        self.results: list[str] = []
        self.sent = itertools.count()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(THREADS)]

    def run(self) -> None:
        while not self.stopping.is_set() and next(self.sent) < LIMIT:
            try:
                answer = fetch(self.url, headers=self.headers, context=self.context)
            except (OSError, http.client.HTTPException) as error:
                self.results.append(f"{type(error).__name__}: {error}")
            else:
                ok = answer.status == 200 and WELCOME in answer.text
                self.results.append("ok" if ok else f"{answer.status}: {answer.text[:200]}")
            time.sleep(PAUSE)

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def succeed(self, count: int = STEADY) -> None:
        """Wait until count more requests have succeeded."""
        target = self.results.count("ok") + count
        wait_for(lambda: self.results.count("ok") >= target, timeout=60)

    def failures(self) -> list[str]:
        return [result for result in self.results if result != "ok"]

    def report(self, what: str) -> None:
        print(f"\n{what}: {len(self.results)} requests, {len(self.failures())} failed: {self.failures()}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gunicorn(env: dict[str, str | None]):
    port = free_port()
    return serve(gunicorn_command(port, "--workers", "2", *ACCESS_LOG_WITH_PID), port, env=env)


def test_a_killed_worker_is_replaced():
    """SIGKILL to one of two workers. Only requests in flight on that worker may fail: the
    listening socket belongs to the master, so connections not yet accepted wait for another
    worker. The client never has more than THREADS requests in flight, hence the bound; every
    other request must succeed, and the replacement must answer."""
    with gunicorn({"SECRET_KEY": TEST_KEY}) as app:
        wait_for(lambda: len(booted_workers(app)) == 2)
        cookie = fetch(app.url + "/setcookie", **form("alice")).cookie_pair()
        with Load(app.url, cookie) as load:
            load.succeed()
            victim = booted_workers(app)[0]
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: len(booted_workers(app)) == 3)
            replacement = booted_workers(app)[2]
            wait_for(lambda: replacement in answering_workers(app, "GET /getcookie"), timeout=60)
            load.succeed()
        load.report("SIGKILL of a worker")
        assert f"Worker (pid:{victim}) was sent SIGKILL!" in app.output()
        assert len(load.failures()) <= THREADS
        # A failure is a connection cut by the kill, never an HTTP error.
        assert not [failure for failure in load.failures() if failure[:3].isdigit()]


def test_hup_reloads_without_failing_a_request():
    """kill -HUP: new workers, the old ones finish their requests and go. With no key set, the new
    workers read the same generated key file, so a cookie from before the reload is still
    accepted after it."""
    with gunicorn({}) as app:
        wait_for(lambda: len(booted_workers(app)) == 2)
        old_workers = booted_workers(app)
        cookie = fetch(app.url + "/setcookie", **form("alice")).cookie_pair()
        with Load(app.url, cookie) as load:
            load.succeed()
            os.kill(app.process.pid, signal.SIGHUP)
            wait_for(lambda: len(booted_workers(app)) == 4)
            new_workers = booted_workers(app)[2:]
            wait_for(lambda: not any(alive(pid) for pid in old_workers), timeout=60)
            wait_for(lambda: set(new_workers) & set(answering_workers(app, "GET /getcookie")), timeout=60)
            load.succeed()
        load.report("HUP of the master")
        assert "Handling signal: hup" in app.output()
        assert load.failures() == []


@pytest.fixture
def nginx():
    return require_nginx()


def test_an_instance_restarted_behind_nginx(nginx, tmp_path):
    """One of two instances stopped (SIGTERM), then started again on its port: nginx passes the
    GETs it could not deliver to the other instance (proxy_next_upstream), so none fails; it sends
    requests to the restarted instance again, which accepts the cookie."""
    context = make_tls(tmp_path)
    port = free_port()
    command = gunicorn_command(port, "--workers", "2", *ACCESS_LOG_WITH_PID)
    env = {"SECRET_KEY": TEST_KEY}
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(serve(command, port, env=env))
        second = stack.enter_context(gunicorn(env))
        proxy = stack.enter_context(run_nginx(nginx, [port, second.port], tmp_path))
        post = form("alice")
        post["headers"] = {**post["headers"], "Origin": proxy.url}
        cookie = fetch(proxy.url + "/setcookie", **post, context=context).cookie_pair()
        with Load(proxy.url, cookie, context) as load:
            load.succeed()
            assert answering_workers(first, "GET /getcookie")
            first.process.send_signal(signal.SIGTERM)
            first.process.wait(timeout=30)
            load.succeed()
            restarted = stack.enter_context(serve(command, port, env=env))
            wait_for(lambda: answering_workers(restarted, "GET /getcookie"), timeout=60)
            load.succeed()
        load.report("restart of an instance behind nginx")
        assert load.failures() == []
