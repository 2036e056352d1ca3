"""Faults under load: a worker killed, the master reloaded, an instance behind nginx restarted.

The load: two client threads, each sending GET /getcookie with a cookie on a new connection as soon
as its last one is answered (tests.helpers.load). Each test prints its figures (run pytest with -s to
see them).
"""

import os
import signal

import pytest

from bench.servers import wait_for
from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.answer import form_from_page
from tests.helpers.live import INSTANCE
from tests.helpers.load import Load
from tests.helpers.servers import answering_workers
from tests.helpers.servers import booted_workers

# Slow real-server suites: .ci/run runs them on one Python version (pyproject.toml, markers).
pytestmark = pytest.mark.slow

# Requests that must succeed before a fault, and after the server has recovered from it.
STEADY = 50


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_worker_is_replaced(start_server):
    """SIGKILL to one of two workers. Only requests in flight on that worker may fail: the
    listening socket belongs to the master, so connections not yet accepted wait for another
    worker. The load never has more than one request in flight per thread, hence the bound; every
    other request must succeed, and the replacement must answer."""
    app = start_server(*INSTANCE)
    wait_for(lambda: len(booted_workers(app)) == 2)
    cookie = fetch(app.url + "/setcookie", **form("alice")).cookie_pair()
    with Load(app.url, cookie, keep_alive=False) as load:
        load.wait_succeeded(STEADY)
        victim = booted_workers(app)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(booted_workers(app)) == 3)
        replacement = booted_workers(app)[2]
        wait_for(lambda: replacement in answering_workers(app, "GET /getcookie"), timeout=60)
        load.wait_succeeded(STEADY)
    print(f"\nSIGKILL of a worker: {load.summary()}")
    assert f"Worker (pid:{victim}) was sent SIGKILL!" in app.output()
    failures = load.failures()
    assert failures.total() <= len(load.threads)
    # A failure is a connection cut by the kill, never an HTTP error.
    assert all(str(outcome).startswith("no answer: ") for _, outcome in failures), failures


def test_hup_reloads_without_failing_a_request(start_server):
    """kill -HUP: new workers, the old ones finish their requests and go. With no key set, the new
    workers read the same generated key file, so a cookie from before the reload is still
    accepted after it."""
    app = start_server(*INSTANCE, key=None)
    wait_for(lambda: len(booted_workers(app)) == 2)
    old_workers = booted_workers(app)
    cookie = fetch(app.url + "/setcookie", **form("alice")).cookie_pair()
    with Load(app.url, cookie, keep_alive=False) as load:
        load.wait_succeeded(STEADY)
        os.kill(app.process.pid, signal.SIGHUP)
        wait_for(lambda: len(booted_workers(app)) == 4)
        new_workers = booted_workers(app)[2:]
        wait_for(lambda: not any(alive(pid) for pid in old_workers), timeout=60)
        wait_for(lambda: set(new_workers) & set(answering_workers(app, "GET /getcookie")), timeout=60)
        load.wait_succeeded(STEADY)
    print(f"\nHUP of the master: {load.summary()}")
    assert "Handling signal: hup" in app.output()
    assert load.failures() == {}


def test_an_instance_restarted_behind_nginx(start_server, start_nginx, tls):
    """One of two instances stopped (SIGTERM), then started again on its port: nginx passes the
    GETs it could not deliver to the other instance (proxy_next_upstream), so none fails; it sends
    requests to the restarted instance again, which accepts the cookie."""
    first, second = start_server(*INSTANCE), start_server(*INSTANCE)
    site = start_nginx(first.port, second.port)
    cookie = fetch(
        site.url + "/setcookie", **form_from_page(site.url, "alice"), context=tls.context
    ).cookie_pair()
    with Load(site.url, cookie, tls.context, keep_alive=False) as load:
        load.wait_succeeded(STEADY)
        assert answering_workers(first, "GET /getcookie")
        first.process.send_signal(signal.SIGTERM)
        first.process.wait(timeout=30)
        load.wait_succeeded(STEADY)
        restarted = start_server(*INSTANCE, port=first.port)
        wait_for(lambda: answering_workers(restarted, "GET /getcookie"), timeout=60)
        load.wait_succeeded(STEADY)
    print(f"\nrestart of an instance behind nginx: {load.summary()}")
    assert load.failures() == {}
