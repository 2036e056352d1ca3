"""One class for an answer, however it came: from a server over HTTP (fetch), as raw bytes
(send_raw, parse_response), or from the app called in process (tests.helpers.inprocess)."""

import contextlib
import http.client
import re
import socket
import ssl
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.helpers.oracle import ROOT
from tests.helpers.oracle import URLENCODED


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""
    # In process only: what the app logged, and the exc_info it passed with a 500.
    errors: str = ""
    exc_info: object = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def exact(self) -> tuple[str, list[tuple[str, str]], bytes]:
        """The status line, every header in order, and the body: as the oracle spells an exact answer."""
        return f"{self.status} {self.reason}", self.headers, self.body

    def values(self, name: str) -> list[str]:
        """Every value of a header, in order; the name in any case."""
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        """The one value of a header, None if absent; sent twice fails the test."""
        values = self.values(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None

    def cookie_header(self) -> str:
        """The Set-Cookie header of an answer that must set exactly one cookie."""
        values = self.values("Set-Cookie")
        assert len(values) == 1, values
        return values[0]

    def cookie_pair(self) -> str:
        """`name=value` of the cookie the answer sets, as a browser sends it back."""
        return self.cookie_header().split("; ")[0]


def attributes(set_cookie: str) -> set[str]:
    """A Set-Cookie header's pair and attributes, in any order."""
    return set(set_cookie.split("; "))


def connect(
    url: str, source: str | None = None, context: ssl.SSLContext | None = None, timeout: float = 10
) -> http.client.HTTPConnection:
    """A connection to url's host, opened by its first request; source is the client's own loopback
    address. A URL with the site's name of deploy/nginx.conf (SITE_NAME) goes to loopback (see
    SiteHTTPConnection)."""
    parts = urlsplit(url)
    source_address = (source, 0) if source else None
    site = parts.hostname == SITE_NAME
    if parts.scheme == "https":
        return (SiteHTTPSConnection if site else http.client.HTTPSConnection)(
            parts.hostname, parts.port, timeout=timeout, source_address=source_address, context=context
        )
    return (SiteHTTPConnection if site else http.client.HTTPConnection)(
        parts.hostname, parts.port, timeout=timeout, source_address=source_address
    )


def exchange(
    connection: http.client.HTTPConnection,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request on connection, which stays open for the next, and its answer read whole."""
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return Answer(response.status, response.getheaders(), response.read(), response.reason)


def fetch(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
    context: ssl.SSLContext | None = None,
) -> Answer:
    """One request on a new connection (connect), read whole."""
    with contextlib.closing(connect(url, source, context)) as connection:
        return exchange(connection, urlsplit(url).path or "/", method, body, headers)


def form(name: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    """fetch() arguments that post the login form with this name, with these headers too."""
    body = "nm=" + "".join(f"%{byte:02X}" for byte in name.encode())
    return {
        "method": "POST",
        "body": body.encode(),
        "headers": {"Content-Type": URLENCODED, **(headers or {})},
    }


def form_from_page(url: str, name: str) -> dict[str, object]:
    """The login form as a browser posts it from the site's own page at url."""
    return form(name, {"Origin": url, "Sec-Fetch-Site": "same-origin"})


# Raw HTTP, for bad input that an HTTP library would refuse to send or would clean up.


def raw_request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[str] = (),
    body: bytes = b"",
    host: str | None = "127.0.0.1",
    version: str = "1.1",
) -> bytes:
    """A request as raw bytes: its line, Host (none if None), Connection: close, each of headers as a
    line (latin-1), and a body with its Content-Length."""
    lines = [f"{method} {target} HTTP/{version}", *([f"Host: {host}"] if host is not None else [])]
    lines += ["Connection: close", *headers, *([f"Content-Length: {len(body)}"] if body else [])]
    return "".join(f"{line}\r\n" for line in lines).encode("latin-1") + b"\r\n" + body


def receive_all(sock: socket.socket, forgive: tuple[type[OSError], ...] = (ConnectionResetError,)) -> bytes:
    """Everything the peer sends until it closes (each wait bounded by the socket's timeout); an
    error of forgive ends it too, keeping what came before."""
    received = []
    with contextlib.suppress(*forgive):
        while chunk := sock.recv(65536):
            received.append(chunk)
    return b"".join(received)


def send_raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are, half-close, and read everything the server sends back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before it has read a large body.
        with contextlib.suppress(OSError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        return receive_all(sock)


def parse_response(data: bytes) -> Answer:
    """The first final HTTP/1.1 response in data, after any 1xx."""
    head, _, rest = data.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 1"):
        head, _, rest = rest.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    # "HTTP/1.1 200 OK"; the reason may be empty, and its space missing too.
    code, _, reason = status_line.partition(" ")[2].partition(" ")
    response = Answer(int(code), headers, b"", reason)
    length = response.header("Content-Length")
    response.body = rest[: int(length)] if length is not None else rest
    return response


# The site of deploy/nginx.conf, reached on loopback under its own name.
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def site_name() -> str:
    """The one server_name of deploy/nginx.conf: its default servers refuse every other name."""
    names = set(re.findall(r"^\s*server_name\s+(\S+);", NGINX_CONF.read_text("utf-8"), re.M))
    assert len(names) == 1, f"{NGINX_CONF.name} should name one site, not {names}"
    return names.pop()


SITE_NAME = site_name()


def connect_to_loopback(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
    return socket.create_connection(("127.0.0.1", address[1]), *args, **kwargs)


class SiteHTTPConnection(http.client.HTTPConnection):
    """A connection to the site's name, made to 127.0.0.1, as `curl --resolve` does: the name is
    still the Host header (and, over https, the SNI and the name the certificate is checked for)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = connect_to_loopback


class SiteHTTPSConnection(http.client.HTTPSConnection):
    """SiteHTTPConnection over TLS."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = connect_to_loopback


class SiteHTTPSHandler(urllib.request.HTTPSHandler):
    """For urllib openers: https URLs with the site's name go to loopback."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.site_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        if req.host.partition(":")[0] != SITE_NAME:
            return super().https_open(req)
        return self.do_open(SiteHTTPSConnection, req, context=self.site_context)
