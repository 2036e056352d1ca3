"""What the Flask and Falcon yardsticks share, none of it framework: the values of the form page, and
the user's cookie as they sign and read it, with itsdangerous's TimestampSigner as its documentation
shows it (the keys from SECRET_KEY and SECRET_KEY_FALLBACKS, unsign with max_age), wsgiapp's salt,
its spelling of a name in cookie-octets, its grammar of a cookie value and its checks of a name."""

import hashlib
import os
from urllib.parse import quote
from urllib.parse import unquote

from itsdangerous import BadSignature
from itsdangerous import TimestampSigner

import wsgiapp

SECRET_KEY = os.environ["SECRET_KEY"]
SECRET_KEY_FALLBACKS = [
    key.strip() for key in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key.strip()
]
# itsdangerous signs with the last key and tries them all.
SIGNER = TimestampSigner(
    [*reversed(SECRET_KEY_FALLBACKS), SECRET_KEY],
    salt=wsgiapp.COOKIE_SALT,
    key_derivation="hmac",
    digest_method=hashlib.sha256,
)


def sign_name(name: str) -> str:
    return SIGNER.sign(quote(name, safe=wsgiapp.COOKIE_SAFE)).decode()


def read_name(value: str) -> str | None:
    """The name in a cookie value signed at most wsgiapp's default lifetime ago, spelled as
    sign_name spells it, and accepted by wsgiapp's checks; else None."""
    if not wsgiapp.COOKIE_VALUE.fullmatch(value):
        return None
    try:
        encoded = SIGNER.unsign(value, max_age=wsgiapp.DEFAULT_LIFETIME).decode()
        name = unquote(encoded, errors="strict")
    except (BadSignature, UnicodeError):
        return None
    if quote(name, safe=wsgiapp.COOKIE_SAFE) != encoded or wsgiapp.name_error([name]) is not None:
        return None
    return name


def form_values(name: str = "", error: str = "") -> dict[str, object]:
    """The values of html/index.html: blank, or a refused name shown again with what is wrong."""
    return {
        "title": "Enter userID",
        "name": name,
        "error": error,
        "invalid": "true" if error else "false",
        "max_length": wsgiapp.MAX_NAME_LENGTH,
    }
