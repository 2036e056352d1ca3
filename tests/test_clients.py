"""Real HTTP clients, each with its own standard cookie jar, against the real gunicorn.

Each client posts awkward names and must be welcomed by exactly the name it posted, with the
cookie kept in its jar exactly as the app set it. One client is not written in Python: the JDK's
HttpClient with CookieManager (tests/clients/CookieClient.java).
"""

import base64
import html
import http.cookiejar
import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.helpers.oracle import issued_at
from tests.helpers.oracle import sign
from tests.helpers.servers import require_executable

# Starts real servers: .ci/run runs these on every Python version (pyproject.toml, markers).
pytestmark = [pytest.mark.slow, pytest.mark.every_python]

# Non-ASCII, and every character that RFC 6265 keeps out of a cookie value, with "%" and ".".
NAMES = [
    "alice",
    "José",
    "名前",
    "😀 family 👨‍👩‍👧",
    "x,y=z",
    "a\\b",
    'say "hi"',
    " spaced out ",
    "semi;colon",
    "100%",
    "%41",
    "dots.in.name",
    "=",
    "it's <b>&amp;",
    "é" * 64,
]
JAVA_CLIENT = Path(__file__).parent / "clients" / "CookieClient.java"


def heading(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert match, page
    return html.unescape(match[1])


def with_requests(url: str, name: str) -> tuple[str, str]:
    """(the cookie as the jar keeps it, the heading of /getcookie)"""
    session = requests.Session()
    assert session.post(url + "/setcookie", data={"nm": name}, timeout=10).status_code == 200
    kept = session.cookies.get("userID")
    return kept, heading(session.get(url + "/getcookie", timeout=10).text)


def with_urllib(url: str, name: str) -> tuple[str, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(url + "/setcookie", urllib.parse.urlencode({"nm": name}).encode(), timeout=10) as answer:
        assert answer.status == 200
    (kept,) = [cookie.value for cookie in jar if cookie.name == "userID"]
    with opener.open(url + "/getcookie", timeout=10) as answer:
        return kept, heading(answer.read().decode())


def with_curl(url: str, name: str, folder: Path) -> tuple[str, str]:
    curl = require_executable("curl", install="Debian: apt-get install curl")
    jar = folder / "jar.txt"
    jar.unlink(missing_ok=True)
    login = [
        curl,
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-c",
        jar,
        "-d",
        f"nm={quote(name, safe='')}",
    ]
    status = subprocess.run([*login, url + "/setcookie"], capture_output=True, text=True, check=True).stdout
    assert status == "200"
    # The Netscape cookie file: one cookie a line, its value in the last of seven tab-separated fields.
    (kept,) = [line.split("\t")[6] for line in jar.read_text().splitlines() if "\tuserID\t" in line]
    page = subprocess.run([curl, "-sS", "-b", jar, url + "/getcookie"], capture_output=True, check=True)
    return kept, heading(page.stdout.decode())


def with_java(url: str, names: list[str]) -> list[tuple[str, str]]:
    java = require_executable("java", install="Debian: apt-get install default-jdk-headless")
    bodies = [quote(name, safe="") for name in names]
    # -XX:-UsePerfData: no /tmp/hsperfdata_<user> left behind.
    command = [java, "-XX:-UsePerfData", JAVA_CLIENT, url, *bodies]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    results = []
    for line in run.stdout.splitlines():
        login, read, kept, page = line.split(" ")
        assert (login, read) == ("200", "200")
        results.append((kept, heading(base64.b64decode(page).decode())))
    return results


def expected(results: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What each client must have kept and been shown: the cookie value the app issued for each name,
    at the time it issued it (taken from the value kept, and checked to be now), and its welcome."""
    return [
        (sign(name, at=issued_at(kept)), f"welcome {name}")
        for name, (kept, _) in zip(NAMES, results, strict=True)
    ]


def test_requests_session(app):
    results = [with_requests(app.url, name) for name in NAMES]
    assert results == expected(results)


def test_urllib_with_http_cookiejar(app):
    results = [with_urllib(app.url, name) for name in NAMES]
    assert results == expected(results)


def test_curl_cookie_jar(app, tmp_path):
    results = [with_curl(app.url, name, tmp_path) for name in NAMES]
    assert results == expected(results)


def test_java_httpclient_with_cookiemanager(app):
    results = with_java(app.url, NAMES)
    assert results == expected(results)
