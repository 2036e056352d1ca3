"""The shipped deployment, run for real: deploy/nginx.conf over TLS in front of two gunicorn
instances, probed as a browser and as an attacker would; deploy/wsgiapp@.service, checked by
systemd-analyze and by running its command."""

import collections
import concurrent.futures
import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import warnings
from functools import partial
from pathlib import Path

import pytest

from bench.servers import free_port
from bench.servers import server_env
from bench.servers import wait_for
from tests.helpers.answer import SITE_NAME
from tests.helpers.answer import Answer
from tests.helpers.answer import SiteHTTPSHandler
from tests.helpers.answer import attributes
from tests.helpers.answer import connect
from tests.helpers.answer import exchange
from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.answer import form_from_page
from tests.helpers.answer import parse_response
from tests.helpers.answer import raw_request
from tests.helpers.answer import receive_all
from tests.helpers.answer import send_raw
from tests.helpers.keys import key_file
from tests.helpers.live import INSTANCE
from tests.helpers.live import copy_of_the_app
from tests.helpers.load import EXPECTED
from tests.helpers.load import Load
from tests.helpers.oracle import CSP
from tests.helpers.oracle import MAX_BODY_SIZE
from tests.helpers.oracle import NEW_KEY
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import sign
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome
from tests.helpers.servers import answering_workers
from tests.helpers.servers import require_executable

# Slow real-server suites: .ci/run runs them on one Python version (pyproject.toml, markers).
pytestmark = pytest.mark.slow


def answered(server, request_line: str) -> int:
    return sum(answering_workers(server, request_line).values())


def test_plain_http_is_sent_to_https(site):
    answer = fetch(site.http_url + "/getcookie")
    assert answer.status == 301
    # The example listens on 443, so the address it sends browsers to has no port.
    assert answer.header("Location") == f"https://{SITE_NAME}/getcookie"


def test_a_cookie_set_through_nginx_is_accepted_by_every_instance(site, instances, tls):
    login = fetch(site.url + "/setcookie", **form_from_page(site.url, "alice"), context=tls.context)
    assert login.status == 200
    # X-Forwarded-Proto: https from nginx, on loopback, which gunicorn trusts: the cookie is Secure.
    # Over https, the __Host- cookie.
    assert attributes(login.cookie_header()) == {
        signed("alice", cookie="__Host-userID", at=issued_at(login.cookie_pair())),
        "Secure",
        "HttpOnly",
        "Path=/",
        "SameSite=Lax",
    }

    before = [answered(server, "GET /getcookie") for server in instances]
    answers = [
        fetch(site.url + "/getcookie", headers={"Cookie": login.cookie_pair()}, context=tls.context)
        for _ in range(10)
    ]
    assert [(answer.status, welcome("alice") in answer.text) for answer in answers] == [(200, True)] * 10
    # A worker writes its access log line after the answer: wait for all ten.
    wait_for(lambda: sum(answered(server, "GET /getcookie") for server in instances) == sum(before) + 10)
    counts = [
        answered(server, "GET /getcookie") - count for server, count in zip(instances, before, strict=True)
    ]
    # nginx's round robin: both instances answered.
    assert min(counts) >= 1, counts


@pytest.mark.parametrize("name", ["José", 'say "hi", a\\b; 100%'])
def test_a_cookie_jar_keeps_the_host_cookie_over_https(site, tls, name):
    """Python's http.cookiejar, through nginx over TLS: the __Host- cookie, kept and sent back as set."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        SiteHTTPSHandler(tls.context), urllib.request.HTTPCookieProcessor(jar)
    )
    with opener.open(site.url + "/setcookie", urllib.parse.urlencode({"nm": name}).encode()) as answer:
        assert answer.status == 200
    assert [(cookie.name, cookie.value, cookie.secure) for cookie in jar] == [
        ("__Host-userID", sign(name, at=issued_at(next(iter(jar)).value)), True)
    ]
    with opener.open(site.url + "/getcookie") as answer:
        assert welcome(name) in answer.read().decode()


@pytest.mark.parametrize(("origin", "status"), [("", 200), (f"https://{SITE_NAME}", 403)])
def test_nginx_passes_the_host_with_its_port(site, tls, origin, status):
    """Without Sec-Fetch-Site (older browsers), the app compares Origin with the Host it gets:
    with the port nginx passes, the page's own post matches and one from port 443 does not."""
    post = form("alice", {"Origin": origin or site.url})
    answer = fetch(site.url + "/setcookie", **post, context=tls.context)
    assert answer.status == status
    assert (answer.values("Set-Cookie") == []) is (status == 403)


def absolute_form_post(site, context, host: str, origin: str) -> "Answer":
    """The login form posted in absolute form (the site's URL in the request line) over TLS to the
    site, with another Host header, as no browser sends it."""
    request = raw_request(
        "POST",
        f"{site.url}/setcookie",
        [f"Origin: {origin}", f"Content-Type: {URLENCODED}"],
        b"nm=alice",
        host,
    )
    with (
        socket.create_connection(("127.0.0.1", site.https_port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=SITE_NAME) as secure,
    ):
        secure.sendall(request)
        return parse_response(receive_all(secure))


@pytest.mark.parametrize(("origin", "status"), [("site", 200), ("evil", 403)])
def test_the_app_sees_the_sites_name_even_from_an_absolute_form_request(site, tls, origin, status):
    """Host: evil.example with the site's URL in the request line: the app compares Origin with the
    site's name and port, never with that Host, so a post whose Origin matches the forged Host is
    refused and one from the site's own page still passes."""
    port = site.https_port
    origins = {"site": site.url, "evil": f"https://evil.example:{port}"}
    answer = absolute_form_post(site, tls.context, f"evil.example:{port}", origins[origin])
    assert answer.status == status
    assert (answer.values("Set-Cookie") == []) is (status == 403)


def test_nginx_adds_the_client_to_x_forwarded_for(site, instances, tls):
    answer = fetch(site.url + "/forwarded", headers={"X-Forwarded-For": "203.0.113.9"}, context=tls.context)
    assert answer.status == 404
    line = '"GET /forwarded HTTP/1.0" 404 203.0.113.9, 127.0.0.1\n'
    wait_for(lambda: any(line in server.output() for server in instances))


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-Proto": "http"},
        {"X-Forwarded-Ssl": "off"},
        {"X-Forwarded-Protocol": "http"},
        {"X-Forwarded-Ssl": "on", "X-Forwarded-Protocol": "ssl"},
    ],
)
def test_scheme_headers_from_clients_do_not_reach_gunicorn(site, tls, header):
    """nginx replaces X-Forwarded-Proto and drops the other two: no 400 for disagreeing headers."""
    post = form_from_page(site.url, "alice")
    post["headers"] = {**post["headers"], **header}
    login = fetch(site.url + "/setcookie", **post, context=tls.context)
    assert login.status == 200
    assert "Secure" in attributes(login.cookie_header())


@pytest.mark.parametrize(
    ("size", "status", "text"),
    [
        # Up to the app's limit, the body reaches the app, which finds the name too long.
        (MAX_BODY_SIZE, 400, "The user ID must be at most 64 characters long."),
        # One byte more, and nginx refuses it itself.
        (MAX_BODY_SIZE + 1, 413, "<center><h1>413 Request Entity Too Large</h1></center>"),
    ],
)
def test_the_body_limit_matches_the_app(site, tls, size, status, text):
    post = form_from_page(site.url, "")
    post["body"] = b"nm=" + b"a" * (size - 3)
    answer = fetch(site.url + "/setcookie", **post, context=tls.context)
    assert answer.status == status
    assert text in answer.text


@pytest.mark.parametrize(("peer", "secure"), [("127.0.0.1", True), ("127.0.0.3", False)])
def test_x_forwarded_proto_counts_only_from_a_trusted_peer(instances, peer, secure):
    """gunicorn's forwarded_allow_ips (default 127.0.0.1,::1): another address cannot claim https."""
    post = form("alice", {"X-Forwarded-Proto": "https"})
    login = fetch(instances[0].url + "/setcookie", **post, source=peer)
    assert login.status == 200
    assert ("Secure" in attributes(login.cookie_header())) is secure


def test_key_rotation(instances, start_server):
    """A new key with the old one as a fallback accepts old cookies and signs with the new key."""
    old = fetch(instances[0].url + "/setcookie", **form("alice")).cookie_pair()
    assert old == signed("alice", TEST_KEY, at=issued_at(old))
    rotated = start_server(*INSTANCE, key=NEW_KEY, env={"SECRET_KEY_FALLBACKS": TEST_KEY})
    forgetful = start_server(*INSTANCE, key=NEW_KEY)
    answer = fetch(rotated.url + "/getcookie", headers={"Cookie": old})
    assert welcome("alice") in answer.text
    assert answer.values("Set-Cookie") == []
    new = fetch(rotated.url + "/setcookie", **form("alice")).cookie_pair()
    assert new == signed("alice", NEW_KEY, at=issued_at(new))
    assert new != old

    # Without the fallback, the old cookie is refused and cleared; the new one is accepted.
    answer = fetch(forgetful.url + "/getcookie", headers={"Cookie": old})
    assert "<h1>No user is set</h1>" in answer.text
    assert answer.cookie_pair() == "userID="
    assert welcome("alice") in fetch(forgetful.url + "/getcookie", headers={"Cookie": new}).text
    # The old instances do not know the new key.
    answer = fetch(instances[0].url + "/getcookie", headers={"Cookie": new})
    assert "<h1>No user is set</h1>" in answer.text


# Hardening: the site answers only for its own name, over TLS that Mozilla's profile allows,
# with HSTS and without nginx's version, and drops clients that stall.


def probe_context(version: ssl.TLSVersion | None = None, ciphers: str = "ALL:@SECLEVEL=0") -> ssl.SSLContext:
    """A client that checks nothing and offers whatever it is told, old protocols and suites too."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        # TLS 1.0 and 1.1 are deprecated in Python's ssl module: offering them is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        if version is not None:
            context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)
    return context


def handshake(
    site, context: ssl.SSLContext, name: str | None = SITE_NAME, session: ssl.SSLSession | None = None
) -> tuple[str, str, ssl.SSLSession, bool]:
    """A TLS handshake with the site, name sent as SNI: the protocol, the suite, the session, and
    whether the session was resumed."""
    with (
        socket.create_connection(("127.0.0.1", site.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name, session=session) as sock,
    ):
        return sock.version(), sock.cipher()[0], sock.session, sock.session_reused


@pytest.mark.parametrize(
    "data",
    [
        raw_request(host="evil.example"),
        raw_request(host=f"evil.example:{SITE_NAME}"),
        raw_request(host=f"{SITE_NAME}.evil.example"),
        raw_request(host="127.0.0.1"),
        # No Host at all, as a scan of the address may send.
        raw_request(host=None, version="1.0"),
        # The host in an absolute request target wins over the Host header.
        raw_request(target="http://evil.example/getcookie", host=SITE_NAME),
    ],
)
def test_plain_http_for_another_name_gets_no_answer(site, data):
    """The default server closes the connection without a word (444): no redirect to follow."""
    assert send_raw(site.http_port, data) == b""


@pytest.mark.parametrize(
    "host",
    [SITE_NAME, SITE_NAME.upper(), f"{SITE_NAME}:8080", f"{SITE_NAME}."],
    ids=["plain", "upper", "port", "dot"],
)
def test_the_redirect_names_the_site_whatever_its_host_looks_like(site, host):
    answer = parse_response(send_raw(site.http_port, raw_request(target="/getcookie?a=b", host=host)))
    assert answer.status == 301
    assert answer.header("Location") == f"https://{SITE_NAME}/getcookie?a=b"


@pytest.mark.parametrize("name", [None, "evil.example", f"www.{SITE_NAME}"])
def test_tls_for_another_name_is_refused_in_the_handshake(site, name):
    """Without the site's name as SNI (none, as a scan of the address sends), no certificate and
    no site: the handshake fails with unrecognized_name."""
    with pytest.raises(ssl.SSLError, match="TLSV1_UNRECOGNIZED_NAME"):
        handshake(site, probe_context(), name)


def test_another_host_after_the_sites_handshake_gets_no_answer(site, tls):
    """SNI names the site, the Host header another: the default server closes the connection."""
    with pytest.raises(http.client.RemoteDisconnected):
        fetch(site.url + "/", headers={"Host": "evil.example"}, context=tls.context)


# The least max-age the issue asks for: 180 days.
HSTS_MIN_AGE = 180 * 24 * 3600


# The policy of nginx's own pages (deploy/nginx.conf): they hold no style, script or image.
NGINX_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


# The app's answers over https, and nginx's own: a post to /setcookie over the body limit, 413.
HTTPS_ANSWERS = [("/", 200), ("/getcookie", 200), ("/nowhere", 404), ("/setcookie", 413)]


def https_answer(site, context, path: str):
    """GET path over https; /setcookie is posted, over the body limit, for nginx's own 413."""
    if path != "/setcookie":
        return fetch(site.url + path, context=context)
    post = form_from_page(site.url, "")
    post["body"] = b"nm=" + b"a" * MAX_BODY_SIZE
    return fetch(site.url + path, **post, context=context)


@pytest.mark.parametrize(("path", "status"), HTTPS_ANSWERS)
def test_every_https_answer_has_the_security_headers_once(site, tls, path, status):
    """The app's answers carry its own; nginx's own (413) the same three, added by nginx."""
    answer = https_answer(site, tls.context, path)
    assert answer.status == status
    assert answer.values("X-Content-Type-Options") == ["nosniff"]
    assert answer.values("Referrer-Policy") == ["same-origin"]
    (policy,) = answer.values("Content-Security-Policy")
    assert policy == (NGINX_CSP if status == 413 else CSP)


def test_nginx_answers_for_an_instance_that_is_down_with_the_security_headers(start_nginx, tls):
    """502 when no instance answers: nginx's page, with the headers the app would have sent."""
    site = start_nginx(free_port(), free_port())
    answer = fetch(site.url + "/", context=tls.context)
    assert answer.status == 502
    assert answer.values("X-Content-Type-Options") == ["nosniff"]
    assert answer.values("Referrer-Policy") == ["same-origin"]
    assert answer.values("Content-Security-Policy") == [NGINX_CSP]


@pytest.mark.parametrize(("path", "status"), HTTPS_ANSWERS)
def test_every_https_answer_has_hsts_and_no_version(site, tls, path, status):
    """The app's answers and nginx's own (413): HSTS (`always`), and Server without a version."""
    answer = https_answer(site, tls.context, path)
    assert answer.status == status
    assert answer.values("Strict-Transport-Security") == ["max-age=63072000"]
    max_age = int(answer.header("Strict-Transport-Security").removeprefix("max-age="))
    assert max_age >= HSTS_MIN_AGE
    assert answer.values("Server") == ["nginx"]
    assert "nginx/" not in answer.text


@pytest.mark.parametrize(
    ("scheme", "data", "status"),
    [
        ("http", raw_request(host=SITE_NAME), 301),
        # A request line nginx cannot parse: its own 400 page, from the default server.
        ("http", b"GET /\x00 HTTP/1.1\r\n\r\n", 400),
        ("https", b"GET /\x00 HTTP/1.1\r\n\r\n", 400),
    ],
    ids=["redirect", "http-bad-request", "https-bad-request"],
)
def test_nginx_pages_name_no_version(site, tls, scheme, data, status):
    """Plain http sends no HSTS (browsers ignore it there); neither says which nginx this is."""
    if scheme == "http":
        raw = send_raw(site.http_port, data)
    else:
        with (
            socket.create_connection(("127.0.0.1", site.https_port), timeout=10) as sock,
            tls.context.wrap_socket(sock, server_hostname=SITE_NAME) as secure,
        ):
            secure.sendall(data)
            raw = receive_all(secure)
    answer = parse_response(raw)
    assert answer.status == status
    assert answer.header("Server") == "nginx"
    assert b"nginx/" not in answer.body
    assert (answer.header("Strict-Transport-Security") is None) is (scheme == "http")


# Mozilla's "intermediate" TLS 1.2 suites, guideline 6.0 (ssl-config.mozilla.org/guidelines/6.0.json).
MOZILLA_INTERMEDIATE_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
}


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (ssl.TLSVersion.TLSv1, False),
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ],
    ids=["1.0", "1.1", "1.2", "1.3"],
)
def test_tls_versions(site, version, accepted):
    """TLS 1.2 and 1.3 only, refused as a version (not for lack of a suite), over the TLS 1.0 and
    1.1 that the http context allows (the test's, as Debian's nginx.conf does)."""
    context = probe_context(version)
    if accepted:
        assert handshake(site, context)[0] == version.name.replace("_", ".")
    else:
        with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
            handshake(site, context)


def test_tls12_offers_only_mozillas_intermediate_suites(site):
    """Every TLS 1.2 suite this OpenSSL offers, one handshake each: only the profile's AEAD suites
    for the certificate's key (ECDSA) are accepted; the server refuses the others, among them the
    CBC suites an ECDSA certificate would allow (LUCKY13)."""
    # PSK and SRP suites need a password the client does not have: it cannot even offer them.
    suites = {
        suite["name"]
        for suite in probe_context().get_ciphers()
        if suite["protocol"] != "TLSv1.3" and not re.search(r"PSK|SRP", suite["name"])
    }
    assert {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"} < suites
    accepted, refused = set(), set()
    for suite in sorted(suites):
        try:
            accepted.add(handshake(site, probe_context(ssl.TLSVersion.TLSv1_2, f"{suite}:@SECLEVEL=0"))[1])
        except ssl.SSLError as error:
            assert error.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE", (suite, error)
            refused.add(suite)
    assert accepted == {suite for suite in MOZILLA_INTERMEDIATE_TLS12 if "ECDSA" in suite}
    assert accepted | refused == suites


@pytest.mark.parametrize(
    "offered",
    [
        ["ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-GCM-SHA256"],
        ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"],
        ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"],
    ],
)
def test_the_client_picks_the_suite(site, offered):
    """ssl_prefer_server_ciphers off: the client's first choice, against the profile's order (the
    first case) and against OpenSSL's (the last)."""
    context = probe_context(ssl.TLSVersion.TLSv1_2, ":".join(offered))
    assert handshake(site, context)[1] == offered[0]


def test_sessions_resume_from_the_cache_without_tickets(site):
    """ssl_session_cache and ssl_session_tickets off: a TLS 1.2 session comes back by its ID."""
    context = probe_context(ssl.TLSVersion.TLSv1_2)
    _, _, session, resumed = handshake(site, context)
    assert not resumed
    assert not session.has_ticket
    assert handshake(site, context, session=session)[3]


# What a client that never sends the end of its request, or never reads, is given (nginx.conf).
CLIENT_TIMEOUT = 10


def stall(site, context: ssl.SSLContext | None, data: bytes) -> tuple[float, bytes]:
    """Send data, then nothing: how long until nginx closes the connection, and what it answered."""
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", site.https_port), timeout=60))
        if context is not None:
            sock = stack.enter_context(context.wrap_socket(sock, server_hostname=SITE_NAME))
        sock.sendall(data)
        started = time.monotonic()
        received = receive_all(sock)
        return time.monotonic() - started, received


def test_the_timeouts_end_stalled_clients(site, tls):
    """A client that stops sending (in the TLS handshake, the headers or the body), or stays idle
    after an answer, is dropped after CLIENT_TIMEOUT seconds (nginx's default: 60 or 75 s)."""
    body_head = (
        f"POST /setcookie HTTP/1.1\r\nHost: {SITE_NAME}\r\n"
        f"Content-Type: {URLENCODED}\r\nContent-Length: 100\r\n\r\nnm="
    )
    keep_alive = f"GET / HTTP/1.1\r\nHost: {SITE_NAME}\r\n\r\n"
    stalls = {
        "handshake": (None, b""),
        "headers": (tls.context, f"GET / HTTP/1.1\r\nHost: {SITE_NAME}\r\nAccept: ".encode()),
        "body": (tls.context, body_head.encode()),
        "idle": (tls.context, keep_alive.encode()),
    }
    with concurrent.futures.ThreadPoolExecutor(len(stalls)) as pool:
        futures = {kind: pool.submit(stall, site, *arguments) for kind, arguments in stalls.items()}
        results = {kind: future.result() for kind, future in futures.items()}
    for kind, (waited, received) in results.items():
        assert CLIENT_TIMEOUT - 0.5 <= waited < CLIENT_TIMEOUT + 10, (kind, waited)
        # Only the idle connection got an answer, before it idled; nginx drops the others silently.
        assert received.startswith(b"HTTP/1.1 200 OK\r\n") if kind == "idle" else received == b"", kind


# deploy/nginx.conf's limit_req on posts, per client address: a burst, then so many a second.
POST_BURST = 20
POST_RATE = 5
# Posts are sent one after another until REFUSALS are refused: on one connection each takes
# milliseconds, so that comes long before MAX_POSTS; only a client slower than POST_RATE would never
# be refused.
REFUSALS = 20
MAX_POSTS = 200


def test_posts_are_rate_limited_per_address(site, tls):
    """limit_req on POST, at any speed of the client: of posts sent one after another from one
    address, the first POST_BURST + 1 pass, then at most POST_RATE a second more while they are
    sent, and the others get 429; its GETs, and posts from another address, still pass."""
    post = form_from_page(site.url, "alice")
    answers = []
    started = time.monotonic()
    with contextlib.closing(connect(site.url, "127.0.0.4", tls.context)) as connection:
        while len(answers) < MAX_POSTS and [answer.status for answer in answers].count(429) < REFUSALS:
            answers.append(exchange(connection, "/setcookie", **post))
    elapsed = time.monotonic() - started
    statuses = [answer.status for answer in answers]
    assert statuses[: POST_BURST + 1] == [200] * (POST_BURST + 1)
    assert set(statuses) == {200, 429}
    assert statuses.count(429) == REFUSALS, statuses
    # nginx refills the bucket by its own clock, cached at each event and in whole milliseconds:
    # from the first post it saw to the last, no more than elapsed (and a millisecond) went by.
    assert statuses.count(200) <= POST_BURST + 1 + POST_RATE * (elapsed + 0.001), (statuses, elapsed)
    limited = answers[statuses.index(429)]
    assert limited.header("Strict-Transport-Security") == "max-age=63072000"
    assert fetch(site.url + "/", source="127.0.0.4", context=tls.context).status == 200
    assert fetch(site.url + "/setcookie", **post, source="127.0.0.5", context=tls.context).status == 200


# A rolling restart through deploy/nginx.conf, under a load (tests.helpers.load).


def stop_by_pid(server) -> None:
    """SIGTERM to the gunicorn master alone, as systemctl stop sends it (KillMode=mixed): it stops
    listening, lets its workers finish their requests, and exits."""
    os.kill(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0, server.output()


def test_a_rolling_restart_drops_no_request(start_server, start_nginx, tls):
    """Two instances behind deploy/nginx.conf, under a load of GETs and POSTs; the first stopped
    (SIGTERM) and started again, and once it answers, the second: every request is answered as it
    would be without the restarts (no 502, no error), and nginx served requests all along."""
    servers = [start_server(*INSTANCE), start_server(*INSTANCE)]
    site = start_nginx(*[server.port for server in servers])
    login = fetch(site.url + "/setcookie", **form_from_page(site.url, "alice"), context=tls.context)
    windows = []
    # Two threads of GETs, two of posts: each line of EXPECTED.
    gets, posts = ("GET /", "GET /getcookie"), ("POST /setcookie", "POST /deletecookie")
    with Load(site.url, login.cookie_pair(), tls.context, (gets, posts, gets, posts)) as load:
        load.wait_succeeded(100)
        started = time.monotonic()
        for index, server in enumerate(servers):
            before, began = load.counts(), time.monotonic()
            stop_by_pid(server)
            # It is started once it answers GET / itself, not through nginx.
            servers[index] = start_server(*INSTANCE, port=server.port)
            windows.append((load.counts() - before, time.monotonic() - began))
        restarts = time.monotonic() - started
        load.wait_succeeded(100)
    outcomes = load.counts()
    # Each failed try logs why: an instance refused the connection, or cut it off (one that stops
    # resets the connections it had not accepted yet); nginx passed the request on to the other.
    tries = collections.Counter(re.findall(r"\[error\] \d+#\d+: \*\d+ ([^,]+), client: ", site.output()))
    print(
        f"\nrolling restart: {load.summary()}; the restarts {restarts:.1f} s of it; by request and status:"
        f" {dict(sorted(outcomes.items(), key=str))}; requests and seconds of each restart:"
        f" {[(window.total(), round(seconds, 1)) for window, seconds in windows]}; nginx's failed tries:"
        f" {dict(tries)}"
    )
    assert load.failures() == {}, outcomes
    assert set(outcomes) == set(EXPECTED.items()), outcomes
    for window, _ in windows:
        assert window.total() > 0, windows
    # The restarts were felt: nginx found an instance down, and passed requests on.
    assert tries["connect() failed (111: Connection refused) while connecting to upstream"] > 0, tries


def test_testssl_rates_nothing_high(site, tls):
    """testssl.sh against the test nginx (its protocol, cipher, server default, header and
    vulnerability checks; the client simulation, which rates nothing, is left out): no finding
    rated HIGH or CRITICAL but the ones forgiven below, each for its reason."""
    testssl = require_executable(
        "testssl", "/usr/bin/testssl.sh", install="Debian: apt-get install testssl.sh"
    )
    folder = tls.folder
    forgiven = {
        # ssl_prefer_server_ciphers off, as Mozilla's profile says: every suite offered is AEAD with
        # forward secrecy, so the client's pick is as good. testssl 3.0 rates any such server HIGH.
        "cipher_order": "NOT a cipher order configured",
        # The test certificate (trustme) names no CRL; Let's Encrypt's certificates do.
        "cert_revocation": "Neither CRL nor OCSP URI provided",
    }
    report = folder / "testssl.json"
    report.unlink(missing_ok=True)
    command = [
        *(testssl, "--quiet", "--color", "0", "--warnings", "batch"),
        *("-p", "-s", "-f", "-P", "-S", "-h", "-U"),
        # The site's name, reached on loopback; no DNS lookups at all; the test's authority trusted.
        *("--ip", "127.0.0.1", "--nodns", "none", "--add-ca", str(folder / "ca.pem")),
        *("--jsonfile", str(report), site.url),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert report.exists(), run.stdout + run.stderr
    findings = json.loads(report.read_text())
    serious = {
        finding["id"]: finding["finding"]
        for finding in findings
        if finding["severity"] in {"HIGH", "CRITICAL"}
    }
    assert serious == forgiven
    # The points of the issue, as testssl sees them.
    by_id = {finding["id"]: finding for finding in findings}
    # "Obsolete CBC ciphers (AES, ARIA etc.)"
    assert by_id["cipherlist_AVERAGE"]["finding"] == "not offered"
    assert by_id["LUCKY13"]["severity"] == "OK"
    assert by_id["HSTS_time"]["severity"] == "OK"
    assert by_id["banner_server"]["finding"] == "nginx"


# deploy/wsgiapp@.service: one gunicorn instance per port, its keys passed as a credential.

UNIT = ROOT / "deploy" / "wsgiapp@.service"
# Where the unit expects the checkout, and the program it starts.
UNIT_ROOT = "/opt/wsgiapp"
UNIT_GUNICORN = f"{UNIT_ROOT}/.venv/bin/gunicorn"


def unit_settings() -> dict[str, list[str]]:
    """The unit's settings, each key with its values in order (a key may come more than once)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture(scope="module")
def systemd_analyze():
    return require_executable("systemd-analyze", install="Debian: apt-get install systemd")


@pytest.fixture
def unit_folder(tmp_path):
    """A folder holding only the unit: systemd-analyze finds the template of an instance there."""
    shutil.copy(UNIT, tmp_path / UNIT.name)
    return tmp_path


def test_systemd_analyze_verifies_an_instance(systemd_analyze, unit_folder):
    """Unknown or misspelt settings, bad values, missing sections: any complaint fails, but that
    the unit's program is not installed here."""
    instance = unit_folder / "wsgiapp@8001.service"
    run = subprocess.run(
        [systemd_analyze, "verify", "--man=no", str(instance)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    not_installed = (
        f"wsgiapp@8001.service: Command {UNIT_GUNICORN} is not executable: No such file or directory"
    )
    complaints = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert [line for line in complaints if line != not_installed] == []
    assert (run.returncode == 0) is (complaints == [])


def test_systemd_analyze_rates_the_sandbox_ok(systemd_analyze, unit_folder):
    """systemd-analyze security, on the unit file: exposure at most 2.0 of 10 ("OK")."""
    run = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", str(unit_folder / "wsgiapp@8001.service")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    exposure = re.search(r"Overall exposure level for wsgiapp@8001\.service: (\d+\.\d+)", run.stdout)
    assert exposure, run.stdout + run.stderr
    assert float(exposure.group(1)) <= 2.0, run.stdout


def as_systemd_runs(line: str, root: Path, port: int, pid: int = 0) -> list[str]:
    """A command line of the unit as systemd runs it: root for /opt/wsgiapp, port for %i, pid for
    $MAINPID, and this Python's gunicorn for the virtual environment's."""
    command = [
        argument.replace("%i", str(port)).replace("$MAINPID", str(pid)).replace(UNIT_ROOT, str(root))
        for argument in shlex.split(line)
    ]
    if command[0] == str(root / ".venv" / "bin" / "gunicorn"):
        command[:1] = [sys.executable, "-m", "gunicorn"]
    return command


def unit_env(credentials: Path) -> dict[str, str | None]:
    """The unit's environment: SECRET_KEY_FILE in the credentials directory (%d), and no home or
    state folder, as a dynamic user has."""
    name, _, value = unit_settings()["Environment"][0].partition("=")
    return {name: value.replace("%d", str(credentials)), "HOME": "/nonexistent", "XDG_STATE_HOME": None}


def credential(folder: Path, *keys: str) -> Path:
    """The credentials directory folder, returned, with the keys file as systemd copies it there, named
    as LoadCredential names it (so SECRET_KEY_FILE must name it too): readable by its user only."""
    folder.mkdir(mode=0o700, exist_ok=True)
    key_file(folder / unit_settings()["LoadCredential"][0].partition(":")[0], *keys, mode=0o400)
    return folder


def reload_as_systemd(root: Path, port: int, pid: int, env: dict[str, str | None]) -> tuple[int, str]:
    """`systemctl reload`: each ExecReload in order, until one fails; its status and output."""
    output = ""
    for line in unit_settings()["ExecReload"]:
        run = subprocess.run(
            as_systemd_runs(line, root, port, pid),
            cwd=root,
            env=server_env(env, root / "state"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        output += run.stdout + run.stderr
        if run.returncode:
            return run.returncode, output
    return 0, output


# What breaks gunicorn.conf.py between two reloads, and what the failed check says.
BROKEN_CONFIGS = {
    "a syntax error": (lambda config: config.write_text("workers = (\n"), "Failed to read config file: "),
    "moved away": (lambda config: config.rename(config.with_suffix(".bak")), "doesn't exist"),
}


@pytest.mark.parametrize("broken", BROKEN_CONFIGS)
def test_a_reload_with_a_broken_config_is_refused_and_the_instance_serves_on(start_server, tmp_path, broken):
    """The unit's ExecReload lines, as systemd runs them, against its ExecStart: with gunicorn.conf.py
    broken or gone, the check fails, no HUP is sent, and the instance serves on with its keys; put
    right, the next reload takes the new keys."""
    root = copy_of_the_app(tmp_path / "opt")
    credentials = credential(tmp_path / "credentials", TEST_KEY)
    env = unit_env(credentials)
    exec_start = unit_settings()["ExecStart"][0]
    app = start_server(command=partial(as_systemd_runs, exec_start, root), key=None, env=env, cwd=root)
    before = fetch(app.url + "/setcookie", **form("alice")).cookie_pair()
    spoil, message = BROKEN_CONFIGS[broken]
    config = root / "gunicorn.conf.py"
    spoil(config)
    credential(credentials, NEW_KEY, TEST_KEY)
    status, output = reload_as_systemd(root, app.port, app.process.pid, env)
    assert status == 1
    assert message in output
    assert "Handling signal: hup" not in app.output()
    assert app.process.poll() is None
    assert welcome("alice") in fetch(app.url + "/getcookie", headers={"Cookie": before}).text
    same = fetch(app.url + "/setcookie", **form("bob")).cookie_pair()
    assert same == signed("bob", TEST_KEY, at=issued_at(same))

    shutil.copy(ROOT / "gunicorn.conf.py", config)
    assert reload_as_systemd(root, app.port, app.process.pid, env)[0] == 0
    wait_for(lambda: signs_with(app, NEW_KEY), output=app.output)
    assert welcome("alice") in fetch(app.url + "/getcookie", headers={"Cookie": before}).text


def signs_with(app, key: str) -> bool:
    cookie = fetch(app.url + "/setcookie", **form("carol")).cookie_pair()
    return cookie == signed("carol", key, at=issued_at(cookie))


def test_the_units_command_serves_with_the_keys_of_its_credential(start_server, tmp_path):
    """ExecStart as systemd runs it, with this repository for /opt/wsgiapp, the port for %i and a
    folder for the credentials directory (%d), in an environment without a home or state folder,
    as a dynamic user has: it signs with the first key of the file and accepts the others."""
    credentials = credential(tmp_path / "credentials", NEW_KEY, TEST_KEY)
    settings = unit_settings()
    assert settings["WorkingDirectory"] == [UNIT_ROOT]
    command = partial(as_systemd_runs, settings["ExecStart"][0], ROOT)
    app = start_server(command=command, key=None, env=unit_env(credentials))
    assert f"Listening at: http://127.0.0.1:{app.port}" in app.output()
    cookie = fetch(app.url + "/setcookie", **form("alice")).cookie_pair()
    assert cookie == signed("alice", NEW_KEY, at=issued_at(cookie))
    assert "can be read by every user" not in app.output()
    old = fetch(app.url + "/getcookie", headers={"Cookie": signed("alice", TEST_KEY)})
    assert welcome("alice") in old.text
    assert not os.path.exists("/nonexistent")
