"""The floor: a WSGI callable that answers every request with the same prebuilt bytes.

Nothing can answer faster through the same server; its body is about the size of the app's pages.
"""

from collections.abc import Callable
from typing import Any

BODY = b"<!doctype html>\n" + b"<p>" + b"x" * 1180 + b"</p>\n"
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def application(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
