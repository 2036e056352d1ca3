"""Chromium, Firefox ESR and WebKitGTK behind one small Session: Chromium through Playwright, the
other two over their own standard protocols, with no client library and nothing downloaded.

W3C WebDriver classic over HTTP drives Debian's WebKitWebDriver, which starts WebKitGTK's MiniBrowser
on an Xvfb display of our own; Marionette, Firefox's remote protocol, drives Firefox ESR: its commands
are WebDriver's under other names (geckodriver, which Debian does not ship, only translates one to the
other). A web element is its W3C reference; the tests find elements by CSS selector.
"""

import base64
import contextlib
import glob
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.servers import free_port
from bench.servers import stop
from bench.servers import wait_for
from tests.helpers.servers import require_executable

# The key of a web element's reference in WebDriver's JSON (W3C WebDriver, "Elements").
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
# Each command the tests use: W3C WebDriver's method and path (under /session/{id}), and its
# Marionette name. Parameters are the same in both, but for an element's id (in the path, or "id").
COMMANDS = {
    "navigate": ("POST", "/url", "WebDriver:Navigate"),
    "url": ("GET", "/url", "WebDriver:GetCurrentURL"),
    "title": ("GET", "/title", "WebDriver:GetTitle"),
    "back": ("POST", "/back", "WebDriver:Back"),
    "refresh": ("POST", "/refresh", "WebDriver:Refresh"),
    "find": ("POST", "/element", "WebDriver:FindElement"),
    "find_all": ("POST", "/elements", "WebDriver:FindElements"),
    "text": ("GET", "/element/{id}/text", "WebDriver:GetElementText"),
    "click": ("POST", "/element/{id}/click", "WebDriver:ElementClick"),
    "type": ("POST", "/element/{id}/value", "WebDriver:ElementSendKeys"),
    "execute": ("POST", "/execute/sync", "WebDriver:ExecuteScript"),
    "cookies": ("GET", "/cookie", "WebDriver:GetCookies"),
    "end": ("DELETE", "", "WebDriver:DeleteSession"),
}
# What a WebDriver cookie holds (W3C WebDriver, "Cookies"), in the form the tests compare.
COOKIE_FIELDS = ("name", "value", "path", "domain", "secure", "httpOnly", "sameSite")


class WebDriverError(Exception):
    """An error the remote end answered with: its W3C error code and message."""


class Session:
    """A page of one browser, and the commands the tests give it."""

    engine = ""
    # Whether Element Send Keys types characters outside the Basic Multilingual Plane: WebKitGTK's
    # driver drops them (an emoji never reaches the field), and fill() sets such a text by script.
    types_astral = True

    def call(self, command: str, params: dict[str, Any] | None = None, element: str = "") -> Any:
        raise NotImplementedError

    def go(self, url: str) -> None:
        self.call("navigate", {"url": url})

    def url(self) -> str:
        return self.call("url")

    def title(self) -> str:
        return self.call("title")

    def back(self) -> None:
        self.call("back")

    def reload(self) -> None:
        self.call("refresh")

    def find(self, css: str) -> str:
        """The id of the first element the selector finds."""
        return self.call("find", {"using": "css selector", "value": css})[ELEMENT]

    def count(self, css: str) -> int:
        return len(self.call("find_all", {"using": "css selector", "value": css}))

    def text(self, css: str) -> str:
        """The element's rendered text (WebDriver's Get Element Text)."""
        return self.call("text", element=self.find(css))

    def click(self, css: str) -> None:
        self.call("click", element=self.find(css))

    def fill(self, css: str, text: str) -> None:
        """Type text into an empty field; the field must then hold it exactly."""
        field = {ELEMENT: self.find(css)}
        if self.types_astral or all(ord(char) <= 0xFFFF for char in text):
            self.call("type", {"text": text}, element=field[ELEMENT])
        else:
            self.execute("arguments[0].value = arguments[1]", field, text)
        assert self.execute("return arguments[0].value", field) == text

    def execute(self, script: str, *args: object) -> Any:
        """Run a function body in the page, as WebDriver's Execute Script does (not subject to the
        page's Content-Security-Policy)."""
        return self.call("execute", {"script": script, "args": list(args)})

    def cookies(self) -> list[dict[str, Any]]:
        """The cookies the browser would send to the current page, HttpOnly ones included."""
        return [{key: cookie[key] for key in COOKIE_FIELDS} for cookie in self.call("cookies")]

    def loaded(self, url: str) -> bool:
        return self.url() == url and self.execute("return document.readyState") == "complete"

    def wait_for_page(self, url: str, timeout: float = 20) -> None:
        """Wait until the page at url has loaded: after a click or a script's submit, which
        WebDriver need not wait for."""
        wait_for(lambda: self.loaded(url), timeout, lambda: f"the browser is at {self.url()}")


class HTTPSession(Session):
    """W3C WebDriver classic over HTTP, to a remote end on a loopback port."""

    def __init__(self, port: int, capabilities: dict[str, Any]) -> None:
        self.port = port
        value = self.request("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.id = value["sessionId"]
        self.capabilities = value["capabilities"]

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            data = json.dumps(body or {}).encode() if method == "POST" else None
            headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            answer = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        value = answer["value"]
        if isinstance(value, dict) and "error" in value:
            raise WebDriverError(f"{value['error']}: {value.get('message', '')}")
        return value

    def call(self, command: str, params: dict[str, Any] | None = None, element: str = "") -> Any:
        method, path, _ = COMMANDS[command]
        return self.request(method, f"/session/{self.id}" + path.format(id=element), params)


class MarionetteSession(Session):
    """Marionette over its TCP socket: each message is `<length>:<json>`; a command is
    [0, id, name, params], its answer [1, id, error, result]. NewSession takes the capabilities
    themselves, not W3C's {"capabilities": {"alwaysMatch": ...}}."""

    engine = "firefox"

    def __init__(self, port: int, capabilities: dict[str, Any]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""
        self.last_id = 0
        hello = self.receive()
        assert hello.get("marionetteProtocol") == 3, hello
        value = self.send("WebDriver:NewSession", capabilities)
        self.capabilities = value["capabilities"]

    def receive(self) -> Any:
        while b":" not in self.buffer:
            self.buffer += self.read_some()
        length, _, self.buffer = self.buffer.partition(b":")
        while len(self.buffer) < int(length):
            self.buffer += self.read_some()
        message, self.buffer = self.buffer[: int(length)], self.buffer[int(length) :]
        return json.loads(message)

    def read_some(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("Marionette closed the connection")
        return data

    def send(self, name: str, params: dict[str, Any]) -> Any:
        self.last_id += 1
        data = json.dumps([0, self.last_id, name, params]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        kind, message_id, error, result = self.receive()
        assert (kind, message_id) == (1, self.last_id), (kind, message_id)
        if error:
            raise WebDriverError(f"{error['error']}: {error.get('message', '')}")
        # Most answers wrap their value as {"value": ...}; NewSession's does not.
        return result["value"] if isinstance(result, dict) and set(result) == {"value"} else result

    def call(self, command: str, params: dict[str, Any] | None = None, element: str = "") -> Any:
        return self.send(COMMANDS[command][2], {**(params or {}), **({"id": element} if element else {})})

    def privileged(self, script: str, *args: object) -> Any:
        """Run a function body in Firefox's own chrome context (needs --remote-allow-system-access)."""
        self.send("Marionette:SetContext", {"value": "chrome"})
        try:
            return self.send("WebDriver:ExecuteScript", {"script": script, "args": list(args)})
        finally:
            self.send("Marionette:SetContext", {"value": "content"})

    def trust(self, authority: Path) -> None:
        """Trust a certificate authority (a PEM file) for web sites, in this profile only."""
        der = ssl.PEM_cert_to_DER_cert(authority.read_text())
        self.privileged(
            'Cc["@mozilla.org/security/x509certdb;1"].getService(Ci.nsIX509CertDB)'
            '.addCertFromBase64(arguments[0], "C,,")',
            base64.b64encode(der).decode(),
        )

    def forget(self) -> None:
        """A blank page and no cookie at all: a fresh start for the next test in this session."""
        self.go("about:blank")
        self.privileged("Services.cookies.removeAll()")


class PlaywrightSession(Session):
    """A Playwright page (Chromium) behind the same commands."""

    engine = "chromium"

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page = context.new_page()

    def go(self, url: str) -> None:
        self.page.goto(url)

    def url(self) -> str:
        return self.page.url

    def title(self) -> str:
        return self.page.title()

    def back(self) -> None:
        self.page.go_back()

    def reload(self) -> None:
        self.page.reload()

    def count(self, css: str) -> int:
        return self.page.locator(css).count()

    def text(self, css: str) -> str:
        return self.page.locator(css).first.inner_text()

    def click(self, css: str) -> None:
        self.page.locator(css).first.click()

    def fill(self, css: str, text: str) -> None:
        self.page.locator(css).first.fill(text)
        assert self.page.locator(css).first.input_value() == text

    def execute(self, script: str, *args: object) -> Any:
        return self.page.evaluate(f"(arguments) => {{ {script} }}", list(args))

    def cookies(self) -> list[dict[str, Any]]:
        return [{key: cookie[key] for key in COOKIE_FIELDS} for cookie in self.context.cookies(self.page.url)]


# Launching the browsers. Each gets a home folder of its own (HOME, and the XDG folders under it).


def browser_env(home: Path, **more: str) -> dict[str, str]:
    xdg = {f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("CONFIG", "CACHE", "DATA", "STATE")}
    # TMPDIR too: Chromium leaves its process singleton's folder (org.chromium.Chromium.*) there.
    return {**os.environ, "HOME": str(home), "TMPDIR": str(home), **xdg, **more}


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def firefox(home: Path, capabilities: dict[str, Any]) -> Iterator[MarionetteSession]:
    """Headless Firefox ESR with a fresh profile under home, and its Marionette session."""
    binary = require_executable("firefox-esr", install="Debian: apt-get install firefox-esr")
    profile = home / "profile"
    profile.mkdir(parents=True)
    port = free_port()
    # Marionette sets its own recommended preferences on top (remote.prefs.recommended).
    (profile / "user.js").write_text(f'user_pref("marionette.port", {port});\n')
    command = [binary, "--headless", "--marionette", "--remote-allow-system-access", "--no-remote"]
    with open(home / "firefox.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--profile", str(profile)],
            env=browser_env(home, MOZ_CRASHREPORTER_DISABLE="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    output = (home / "firefox.log").read_text
    try:
        wait_for(lambda: process.poll() is None and listening(port), 60, output)
        session = MarionetteSession(port, capabilities)
        try:
            yield session
        finally:
            session.sock.close()
    finally:
        stop(process)


@contextlib.contextmanager
def xvfb(home: Path) -> Iterator[str]:
    """An X display of our own (Xvfb picks a free number and writes it when it is ready); home is
    its HOME (Mesa keeps a shader cache there)."""
    binary = require_executable("Xvfb", install="Debian: apt-get install xvfb")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [binary, "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", "1024x768x24"],
        pass_fds=[write_end],
        env=browser_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write_end)
    try:
        # Blocks until Xvfb is ready; an Xvfb that exits first closes the pipe (an empty read).
        with os.fdopen(read_end, "rb") as ready:
            number = ready.readline().strip().decode()
        assert number, f"Xvfb exited with {process.wait()}"
        yield f":{number}"
    finally:
        stop(process)


def minibrowser() -> str | None:
    """WebKitGTK's MiniBrowser, where Debian's libwebkit2gtk-4.x-0 puts it."""
    found = sorted(glob.glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser"))
    return found[-1] if found else None


@contextlib.contextmanager
def webkit_driver(home: Path, display: str) -> Iterator[int]:
    """WebKitWebDriver on a free port; it starts a MiniBrowser on display for each session."""
    binary = require_executable("WebKitWebDriver", install="Debian: apt-get install webkit2gtk-driver")
    port = free_port()
    with open(home / "webkitwebdriver.log", "wb") as log:
        process = subprocess.Popen(
            [binary, f"--port={port}"],
            env=browser_env(home, DISPLAY=display),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: process.poll() is None and listening(port), 30, (home / "webkitwebdriver.log").read_text
        )
        yield port
    finally:
        stop(process)


class WebKitSession(HTTPSession):
    """WebKitGTK's MiniBrowser through WebKitWebDriver."""

    engine = "webkit"
    types_astral = False


@contextlib.contextmanager
def webkit_session(
    port: int, binary: str, args: list[str], certificates: dict[str, Path]
) -> Iterator[WebKitSession]:
    """A MiniBrowser of its own (--automation: an ephemeral session, nothing kept), given args, and
    for each host the one certificate it accepts there (webkitgtk:browserOptions)."""
    options = {
        "binary": binary,
        "args": ["--automation", *args],
        "certificates": [{"host": host, "certificateFile": str(path)} for host, path in certificates.items()],
    }
    session = WebKitSession(port, {"webkitgtk:browserOptions": options})
    try:
        yield session
    finally:
        session.call("end")


class LoopbackProxy(threading.Thread):
    """An HTTP proxy that sends each request for host to 127.0.0.1, on the port it names: how a
    browser with no host-resolver switch reaches the site's name (as `curl --resolve` does). CONNECT
    tunnels (https) as they are; a plain request goes out in origin form, its connection ended with
    the answer (the next one may be for another port). Any other host is refused: the browser's own
    background requests go nowhere."""

    def __init__(self, host: str) -> None:
        super().__init__(daemon=True)
        self.host = host
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self.relay, args=(client,), daemon=True).start()

    def relay(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            line, _, rest = head.partition(b"\r\n")
            method, target, version = line.decode("latin-1").split(" ")
            if method == "CONNECT":
                authority = target
            else:
                authority, _, path = target.removeprefix("http://").partition("/")
                rest = rest.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
                head = f"{method} /{path} {version}\r\n".encode("latin-1") + rest
            if authority.rpartition(":")[0] != self.host:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            with socket.create_connection(("127.0.0.1", int(authority.rpartition(":")[2]))) as upstream:
                if method == "CONNECT":
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                else:
                    upstream.sendall(head)
                pipe = threading.Thread(target=copy, args=(upstream, client), daemon=True)
                pipe.start()
                copy(client, upstream)
                pipe.join()

    def close(self) -> None:
        """Stop accepting (a shutdown wakes the accept() that waits; a close alone would not)."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


def copy(source: socket.socket, target: socket.socket) -> None:
    """Bytes from source to target until source ends; then end target's side too."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
