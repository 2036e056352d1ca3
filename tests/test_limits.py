"""Limits under pressure, against the real gunicorn with the repository's gunicorn.conf.py.

Many clients sending bodies far over the cap must not make the workers grow; clients that send
their body a byte at a time must not keep other users out longer than the config says.
"""

import collections
import contextlib
import select
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pytest
from gunicorn.config import Config

from bench.servers import memory_kib
from bench.servers import wait_for
from tests.helpers.answer import SITE_NAME
from tests.helpers.answer import fetch
from tests.helpers.answer import parse_response
from tests.helpers.answer import raw_request
from tests.helpers.answer import receive_all
from tests.helpers.answer import send_raw
from tests.helpers.oracle import URLENCODED
from tests.helpers.servers import accept_queue
from tests.helpers.servers import gunicorn_settings
from tests.helpers.servers import require
from tests.helpers.servers import wait_for_workers

# Slow real-server suites: .ci/run runs them on one Python version (pyproject.toml, markers).
pytestmark = pytest.mark.slow

CLIENTS = 50
UPLOAD_SIZE = 10 * 1024 * 1024
# How much a worker's peak memory may grow over its peak before the uploads.
GROWTH_ALLOWED_KIB = 5 * 1024
FORM_HEAD = (
    f"POST /setcookie HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {URLENCODED}\r\n"
).encode()
GET_HOME = raw_request()


class Shipped(NamedTuple):
    """The shipped config's settings, its worker class, and how many requests it serves at once (a
    sync worker serves one)."""

    settings: Config
    worker_class: str
    capacity: int


@pytest.fixture(scope="module")
def shipped() -> Shipped:
    settings = gunicorn_settings()
    worker_class = settings.worker_class_str
    return Shipped(
        settings, worker_class, settings.workers * (settings.threads if worker_class == "gthread" else 1)
    )


def upload(port: int, chunked: bool, data: memoryview, deadline: float) -> int | None:
    """Send a form of data as a browser would, stopping once the server answers: the status."""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(data)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(FORM_HEAD + framing + b"\r\n\r\n")
        sent = 0
        with contextlib.suppress(OSError):
            while sent < len(data) and time.monotonic() < deadline:
                readable, writable, _ = select.select([sock], [sock], [], 1)
                if readable:
                    break
                if writable:
                    piece = data[sent : sent + 65536]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    sent += len(piece)
            if chunked and sent == len(data):
                sock.sendall(b"0\r\n\r\n")
        received = receive_all(sock, forgive=(OSError,))
    return parse_response(received).status if received.startswith(b"HTTP/1.1 ") else None


def peaks(pids: set[int]) -> dict[int, int]:
    return {pid: memory_kib(pid, "VmHWM") for pid in pids}


def warm_up(port: int) -> list[int]:
    """Every kind of request once: the statuses."""
    over_the_cap = memoryview(b"a" * 65536)
    deadline = time.monotonic() + 30
    return [
        parse_response(send_raw(port, GET_HOME)).status,
        parse_response(send_raw(port, FORM_HEAD + b"Content-Length: 8\r\n\r\nnm=alice")).status,
        upload(port, False, over_the_cap, deadline),
        upload(port, True, over_the_cap, deadline),
    ]


def test_many_oversized_uploads_leave_worker_memory_flat(start_server, shipped):
    server = start_server()
    port = server.port
    workers = wait_for_workers(server, shipped.settings.workers)
    # Idle, but with every code path run in every worker: rounds of requests, several at
    # once, until a round leaves every worker's peak as it was.
    # Bounded by time, not by a count of rounds: how many it takes depends on the allocator.
    before, deadline = {}, time.monotonic() + 60
    while before != (before := peaks(workers)):
        assert time.monotonic() < deadline, f"the workers' peak memory still grew after 60 s: {before}"
        with ThreadPoolExecutor(max_workers=2 * shipped.capacity) as pool:
            rounds = list(pool.map(warm_up, [port] * 2 * shipped.capacity))
        assert rounds == [[200, 200, 413, 413]] * 2 * shipped.capacity
    data = memoryview(b"a" * UPLOAD_SIZE)
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        statuses = list(
            pool.map(
                upload,
                [port] * CLIENTS,
                [False, True] * (CLIENTS // 2),
                [data] * CLIENTS,
                [deadline] * CLIENTS,
            )
        )
    after = peaks(workers)
    assert statuses == [413] * CLIENTS
    assert wait_for_workers(server, shipped.settings.workers) == workers
    growth = {pid: after[pid] - before[pid] for pid in workers}
    assert max(growth.values()) <= GROWTH_ALLOWED_KIB, (
        f"{shipped.worker_class}: worker peak RSS (VmHWM) grew by {growth} KiB over {before} KiB"
        f" with {CLIENTS} uploads of 10 MB"
    )


def test_slow_client_leaves_the_others_served(start_server, shipped):
    """Clients sending their form a byte at a time, on all but one of the places: others get in."""
    # One core gives one worker: nothing would be left for others. Under CI, that fails.
    require(
        "a second place to serve (two cores, or WEB_CONCURRENCY=2)", shipped.capacity >= 2, "run on two cores"
    )
    server = start_server()
    port = server.port
    workers = wait_for_workers(server, shipped.settings.workers)
    slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(shipped.capacity - 1)]
    body = b"nm=alice"
    for sock in slow:
        sock.sendall(FORM_HEAD + b"Content-Length: %d\r\n\r\n" % len(body))
    for position in range(len(body)):
        for sock in slow:
            sock.sendall(body[position : position + 1])
        time.sleep(0.5)  # the slow client's own pace, not a wait for the server
        if position == 2:
            # Half-way through every slow body: a normal request is answered meanwhile.
            assert parse_response(send_raw(port, GET_HOME)).status == 200
    for sock in slow:
        response = parse_response(receive_all(sock))
        sock.close()
        assert response.status == 200
        assert response.header("Set-Cookie").startswith("userID=alice.")
    assert wait_for_workers(server, shipped.settings.workers) == workers


def sent_back(sock: socket.socket) -> bytes | None:
    """Everything the server sent, until it closed, if it sent anything but TLS's own records (a
    TLS 1.3 server sends session tickets after the handshake); None if not."""
    if not select.select([sock], [], [], 0)[0]:
        return None
    sock.setblocking(False)
    try:
        first = sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    finally:
        sock.settimeout(10)
    return first + receive_all(sock) if first else first


def trickle(
    port: int,
    stop: threading.Event,
    give_up_after: float,
    outcomes: list[str],
    context: ssl.SSLContext | None = None,
    source: str = "127.0.0.1",
    until_answered: bool = False,
    sent: collections.Counter | None = None,
) -> None:
    """Send a form one byte a second, never finishing it: until cut off, told to stop, or
    give_up_after; or, until_answered, until the server answers. Over TLS (context), to the site's
    name of deploy/nginx.conf. sent, by the thread's name: 1 once the head is sent, 1 more a byte."""
    head = (
        FORM_HEAD if context is None else FORM_HEAD.replace(b"Host: 127.0.0.1", f"Host: {SITE_NAME}".encode())
    )
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(
            socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        )
        if context is not None:
            sock = stack.enter_context(context.wrap_socket(sock, server_hostname=SITE_NAME))
        sock.sendall(head + b"Content-Length: 16000\r\n\r\nnm=")
        sent = collections.Counter() if sent is None else sent
        name = threading.current_thread().name
        sent[name] += 1
        started = time.monotonic()
        try:
            while not stop.is_set() and time.monotonic() - started < give_up_after:
                if until_answered and (answer := sent_back(sock)) is not None:
                    # An answer, or the end, before the body is done: a refusal.
                    outcomes.append(f"answered {parse_response(answer).status}" if answer else "cut off")
                    return
                sock.sendall(b"a")
                sent[name] += 1
                stop.wait(1)
        except OSError:
            outcomes.append("cut off")
        else:
            outcomes.append("gave up")


def test_slow_clients_on_every_worker(start_server, shipped):
    """As many never-ending slow bodies as the config has places, then a normal request.

    sync: the arbiter kills a worker that has not finished a request within `timeout` seconds
    and starts another, so the normal request waits at most about that long.
    gthread: a thread waits on its client for as long as the client keeps sending, whatever
    `timeout` says; the normal request gets in when a slow client leaves.
    """
    sync = shipped.worker_class == "sync"
    give_up_after = shipped.settings.timeout + 30 if sync else 5
    server = start_server()
    port = server.port
    workers = wait_for_workers(server, shipped.settings.workers)
    stop = threading.Event()
    outcomes, sent = [], collections.Counter()
    threads = [
        threading.Thread(target=trickle, args=(port, stop, give_up_after, outcomes), kwargs={"sent": sent})
        for _ in range(shipped.capacity)
    ]
    for thread in threads:
        thread.start()
    # Every slow client has sent its head and been accepted: every place is taken.
    wait_for(lambda: len(sent) == shipped.capacity and accept_queue(port) == 0)
    started = time.monotonic()
    response = parse_response(send_raw(port, GET_HOME, timeout=give_up_after + 15))
    waited = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=5)
    stop.set()
    for thread in threads:
        thread.join()
    figures = f"{shipped.capacity} slow clients {outcomes}; a normal request waited {waited:.1f} s"
    assert response.status == 200, figures
    log = server.output()
    if sync:
        # Every worker was held, then killed at its timeout, and replaced.
        assert outcomes == ["cut off"] * shipped.capacity, figures
        for pid in workers:
            assert f"WORKER TIMEOUT (pid:{pid})" in log
        assert wait_for_workers(server, shipped.settings.workers).isdisjoint(workers)
    else:
        assert outcomes == ["gave up"] * shipped.capacity, figures
        assert "WORKER TIMEOUT" not in log
        assert wait_for_workers(server, shipped.settings.workers) == workers


def test_slow_clients_behind_nginx_hold_no_worker(start_server, start_nginx, tls, shipped):
    """deploy/nginx.conf in front: nginx takes the slow bodies, and every worker stays free.

    More never-ending slow bodies than both instances have places, then a normal request: it is
    answered at once (fetch gives up after 10 s, well under the worker timeout), and no worker
    was held until its timeout.
    """
    first, second = start_server(), start_server()
    site = start_nginx(first.port, second.port)
    stop = threading.Event()
    outcomes, sent = [], collections.Counter()
    threads = [
        threading.Thread(
            target=trickle, args=(site.https_port, stop, 60, outcomes, tls.context), kwargs={"sent": sent}
        )
        for _ in range(2 * shipped.capacity + 2)
    ]
    for thread in threads:
        thread.start()
    try:
        # Every slow body is under way through nginx before the normal request.
        wait_for(lambda: len(sent) == len(threads) and accept_queue(site.https_port) == 0)
        response = fetch(site.url + "/", context=tls.context)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert response.status == 200
    assert outcomes == ["gave up"] * len(threads)
    for server in (first, second):
        assert "WORKER TIMEOUT" not in server.output()
        # The slow bodies never reached gunicorn: its access log holds only the one GET.
        assert "POST /setcookie" not in server.output()


# What deploy/nginx.conf allows one client address: requests in progress, and how long a client may
# wait between two sends.
LIMIT_CONN = 20
CLIENT_HEADER_TIMEOUT = 10


@pytest.fixture
def small_site(start_server, start_nginx):
    """deploy/nginx.conf in front of two one-worker instances."""
    return start_nginx(start_server("--workers", "1").port, start_server("--workers", "1").port)


def test_one_address_has_at_most_limit_conn_requests_in_progress(small_site, tls):
    """Slow bodies from one address, 5 more than limit_conn: the 5 get 429 at once, the others go
    on; another address is served meanwhile."""
    stop = threading.Event()
    outcomes, sent = [], collections.Counter()
    threads = [
        threading.Thread(
            target=trickle,
            args=(small_site.https_port, stop, 60, outcomes, tls.context, "127.0.0.2", True),
            kwargs={"sent": sent},
        )
        for _ in range(LIMIT_CONN + 5)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: sum(not thread.is_alive() for thread in threads) >= 5)
        assert fetch(small_site.url + "/", source="127.0.0.3", context=tls.context).status == 200
        # Each of the others looks for an answer again, a second after its last byte, and sends one
        # more: none was refused or cut off meanwhile, so they still hold their places.
        mark = collections.Counter(sent)
        wait_for(lambda: all(sent[t.name] >= mark[t.name] + 2 or not t.is_alive() for t in threads))
        assert outcomes == ["answered 429"] * 5
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert sorted(outcomes) == ["answered 429"] * 5 + ["gave up"] * LIMIT_CONN


def test_a_flood_of_half_sent_requests_ends_at_client_header_timeout(small_site, tls):
    """What nginx alone can do against one address opening connections and never finishing a
    request head: limit_conn does not count them (no request yet), so they fill the test nginx's
    256 worker_connections and a second address is refused; client_header_timeout closes them
    all, and the second address is served again, CLIENT_HEADER_TIMEOUT seconds after the flood.
    A flood kept up holds nginx for as long as it lasts: docs/deploying.md says what
    stops it (a per-address connection limit in front of nginx)."""
    flood = []
    refused = 0
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        for _ in range(300):
            try:
                sock = stack.enter_context(
                    socket.create_connection(
                        ("127.0.0.1", small_site.https_port), timeout=5, source_address=("127.0.0.2", 0)
                    )
                )
                sock = stack.enter_context(tls.context.wrap_socket(sock, server_hostname=SITE_NAME))
                sock.sendall(f"GET / HTTP/1.1\r\nHost: {SITE_NAME}\r\n".encode())
                flood.append(sock)
            except OSError:
                refused += 1
        sent = time.monotonic() - started
        probes = []

        def served() -> bool:
            """Whether a request from another address is answered now; each try kept in probes."""
            try:
                outcome = fetch(small_site.url + "/", source="127.0.0.3", context=tls.context).status
            except OSError as error:
                outcome = type(error).__name__
            probes.append((time.monotonic() - started, outcome))
            return outcome == 200

        wait_for(served, CLIENT_HEADER_TIMEOUT + 20, lambda: f"{len(flood)} held; tries: {probes}")
        closed = []
        for sock in flood:
            sock.settimeout(CLIENT_HEADER_TIMEOUT + 20)
            assert receive_all(sock) == b""
            closed.append(time.monotonic() - started)
    failed = [when for when, outcome in probes if outcome != 200]
    figures = (
        f"one address: {len(flood)} half-sent requests held in {sent:.1f} s, {refused} refused;"
        f" another address: {len(failed)} of {len(probes)} tries refused, in at {probes[-1][0]:.1f} s;"
        f" nginx closed the held connections by {max(closed):.1f} s"
    )
    assert len(flood) > 200, figures
    assert failed, f"the flood did not fill nginx: update docs/deploying.md ({figures})"
    assert probes[-1][1] == 200, figures
    assert probes[-1][0] < CLIENT_HEADER_TIMEOUT + 5, figures
    assert max(closed) < CLIENT_HEADER_TIMEOUT + 5, figures
