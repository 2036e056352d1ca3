"""Pages of other sites and services, served on free loopback ports: an attacker's page that posts
the app's form, a neighbour on the same host that sets a cookie of its own."""

import contextlib
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from bench.servers import free_port


class OtherSite(http.server.BaseHTTPRequestHandler):
    """A page of another site or service: its body and headers, to every GET."""

    body = b""
    headers_sent: tuple[tuple[str, str], ...] = ()

    def do_GET(self) -> None:
        self.send_response(200)
        for name, value in self.headers_sent:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def attacker_page(target: str) -> type[OtherSite]:
    """Another site's page that posts the login form to the app as soon as it loads."""
    body = (
        f'<form method="POST" action="{target}/setcookie">'
        '<input name="nm" value="mallory"></form>'
        "<script>document.forms[0].submit()</script>"
    ).encode()
    return type("AttackerPage", (OtherSite,), {"body": body})


class NeighbourPage(OtherSite):
    """Another service of the same host, on another port: it sets a cookie of its own, whose value
    is not UTF-8 (one byte, 0xE9: "café" in latin-1). Cookies do not keep to a port.
    http.server writes each header as latin-1: the value goes out as the bytes caf\xe9."""

    body = b"<p>Preferences saved.</p>"
    headers_sent = (("Set-Cookie", "pref=caf\xe9; Path=/"),)


@contextlib.contextmanager
def served(handler: type[http.server.BaseHTTPRequestHandler], tls: Path | None = None) -> Iterator[int]:
    """Serve a page on a free loopback port, in a thread; yield the port. With tls, a folder of
    make_tls, over https as the site's name."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
