"""Form bodies as a client sends them: to the app in process, or as raw bytes to a server."""

from collections.abc import Iterable
from urllib.parse import quote
from urllib.parse import urlencode

from tests.helpers.oracle import MULTIPART
from tests.helpers.oracle import URLENCODED


def multipart(fields: Iterable[tuple[str, str | bytes]], boundary: str = "b") -> bytes:
    """A multipart/form-data body: each name as it is (latin-1), each value as it is or in UTF-8."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode("latin-1")
        + (value if isinstance(value, bytes) else value.encode())
        + b"\r\n"
        for name, value in fields
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def form_body(fields: list[tuple[str, str]], encoding: str, boundary: str = "b") -> tuple[bytes, str]:
    """The body and Content-Type of a form in this encoding, "urlencoded" or "multipart"."""
    if encoding == "urlencoded":
        return urlencode(fields).encode(), URLENCODED
    body = multipart([(quote(name), value) for name, value in fields], boundary)
    return body, f'{MULTIPART}; boundary="{boundary}"'


def form_of_size(size: int, encoding: str, boundary: str = "b") -> tuple[bytes, str]:
    """A form that sets nm=alice, its last field x filled up to size bytes in all (if it is not over)."""
    body, content_type = form_body([("nm", "alice"), ("x", "")], encoding, boundary)
    # x's value ends a urlencoded body, and comes before a multipart one's closing delimiter.
    cut = len(body) if encoding == "urlencoded" else body.rindex(b"\r\n--")
    return body[:cut] + b"a" * (size - len(body)) + body[cut:], content_type
