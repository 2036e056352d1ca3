"""The same job as wsgiapp, written in Flask the way a Flask user would: the benchmark's yardstick."""

import base64
import hashlib
import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote
from urllib.parse import unquote

from flask import Flask
from flask import abort
from flask import redirect
from flask import render_template
from flask import request
from itsdangerous import BadSignature
from itsdangerous import TimestampSigner
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

COOKIE_NAME = "userID"
SECURE_COOKIE_NAME = "__Host-userID"
COOKIE_SAFE = "!#$&'()*+/:<=>?@[]^`{|}"
COOKIE_VALUE = re.compile(
    r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+\.[A-Za-z0-9_-]{5}[AQgw]\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]"
)
COOKIE_SALT = "wsgiapp.userID"
# The server's limit on a cookie's age, as wsgiapp's without COOKIE_MAX_AGE: 31 days.
LIFETIME = 31 * 24 * 3600
MAX_NAME_LENGTH = 64
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
FORBIDDEN_CATEGORIES = {"Cc", "Cs"}
DEFAULT_PORTS = {"http": ":80", "https": ":443"}

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
app.config["SECRET_KEY_FALLBACKS"] = [
    key.strip() for key in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key.strip()
]
app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
app.config["MAX_FORM_MEMORY_SIZE"] = 16 * 1024
app.config["MAX_FORM_PARTS"] = 8
# The templates' layout ends with a newline, as wsgiapp's does.
app.jinja_env.keep_trailing_newline = True

signer = TimestampSigner(
    [*reversed(app.config["SECRET_KEY_FALLBACKS"]), app.config["SECRET_KEY"]],
    salt=COOKIE_SALT,
    key_derivation="hmac",
    digest_method=hashlib.sha256,
)

# The same stylesheet as wsgiapp, inlined and allowed by its hash.
STYLE = (Path(__file__).parent.parent / "html" / "style.css").read_text("utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def page(template: str, **values: object) -> str:
    return render_template(template, style=STYLE, **values)


def private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Cookie"
    return response


@app.after_request
def security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@app.errorhandler(HTTPException)
def error_page(error: HTTPException) -> Response:
    title = f"{error.code} {error.name}"
    response = app.make_response((page("error.html", title=title, message=error.description), error.code))
    if error.code == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or ())
    return response


def normalize_origin(origin: str) -> str:
    scheme, sep, host = origin.lower().partition("://")
    return scheme + sep + host.removesuffix(DEFAULT_PORTS.get(scheme, ""))


@app.before_request
def refuse_cross_site() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site:
        cross = site not in ("same-origin", "none")
    else:
        origin = request.headers.get("Origin")
        cross = bool(origin) and normalize_origin(origin) != normalize_origin(request.host_url[:-1])
    if cross:
        abort(403, "Cross-site form posts are refused.")


def name_error(names: list[str]) -> str | None:
    if not names:
        return "Please enter a user ID."
    if len(names) > 1:
        return "Send one user ID, not several."
    name = names[0]
    if not name.strip():
        return "The user ID must not be blank."
    if len(name) > MAX_NAME_LENGTH:
        return f"The user ID must be at most {MAX_NAME_LENGTH} characters long."
    if any(unicodedata.category(char) in FORBIDDEN_CATEGORIES for char in name):
        return "The user ID must not contain control characters."
    return None


def shown_again(name: str) -> str:
    """A refused name as the form shows it again: without its control characters."""
    return "".join(char for char in name if unicodedata.category(char) not in FORBIDDEN_CATEGORIES)


@app.get("/")
def index() -> str:
    return page(
        "index.html", title="Enter userID", name="", error="", invalid="false", max_length=MAX_NAME_LENGTH
    )


@app.get("/setcookie")
def setcookie_get() -> Response:
    return redirect("/", 303)


@app.post("/setcookie")
def setcookie() -> Response:
    if request.mimetype not in FORM_TYPES:
        abort(415, "Send the form as application/x-www-form-urlencoded or multipart/form-data.")
    names = request.form.getlist("nm")
    error = name_error(names)
    if error is not None:
        typed = shown_again(names[0]) if names else ""
        body = page(
            "index.html",
            title="Enter userID",
            name=typed,
            error=error,
            invalid="true",
            max_length=MAX_NAME_LENGTH,
        )
        return private(app.make_response((body, 400)))
    response = app.make_response(page("readcookie.html", title="Cookie set"))
    value = signer.sign(quote(names[0], safe=COOKIE_SAFE)).decode()
    response.set_cookie(
        cookie_name(), value, path="/", httponly=True, samesite="Lax", secure=request.is_secure
    )
    return private(response)


def cookie_name() -> str:
    return SECURE_COOKIE_NAME if request.is_secure else COOKIE_NAME


def unsign_name(value: str) -> str | None:
    if not COOKIE_VALUE.fullmatch(value):
        return None
    try:
        encoded = signer.unsign(value, max_age=LIFETIME).decode()
        name = unquote(encoded, errors="strict")
    except (BadSignature, UnicodeError):
        return None
    return name if quote(name, safe=COOKIE_SAFE) == encoded and name_error([name]) is None else None


@app.get("/getcookie")
def getcookie() -> Response:
    values = request.cookies.getlist(cookie_name())
    name = unsign_name(values[0]) if len(values) == 1 else None
    if name is not None:
        return private(app.make_response(page("welcome.html", title="Welcome", name=name)))
    response = private(app.make_response(page("nouser.html", title="No user is set")))
    if values:
        response.delete_cookie(
            cookie_name(), path="/", httponly=True, samesite="Lax", secure=request.is_secure
        )
    return response


@app.post("/deletecookie")
def deletecookie() -> Response:
    response = redirect("/", 303)
    response.delete_cookie(cookie_name(), path="/", httponly=True, samesite="Lax", secure=request.is_secure)
    return private(response)


application = app
