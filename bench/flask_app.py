"""The same job as wsgiapp, written in Flask the way a Flask user would: the benchmark's yardstick.

It differs from wsgiapp only in the framework. Flask does the routing, the form, the cookies, the
error pages, the headers and the templates; the rules are wsgiapp's own, imported: the name checks,
the limits, the cross-site rule, the cookie's names, salt and spelling (bench/yardstick.py, shared with
the Falcon app: itsdangerous's TimestampSigner as its documentation shows it), the stylesheet and
the security headers. The pages are the files of html/, read by Jinja through a loader that spells
string.Template's $name and ${name} as {{ name }} and $$ as $, autoescaped as Flask does for .html.

Its answers to the benchmark's requests are wsgiapp's byte for byte (the benchmark checks their
SHA-256). Elsewhere Flask's behaviour is kept: its error pages carry Werkzeug's descriptions, Jinja
escapes quotes as &#34; and &#39; where wsgiapp has &quot; and &#x27;, a refused name gets no note
on the characters taken out of it, and there is no COOKIE_MAX_AGE. Importing wsgiapp for its rules
puts that module in its memory too (Werkzeug, which Flask loads anyway).
"""

from string import Template

from flask import Flask
from flask import abort
from flask import redirect
from flask import render_template
from flask import request
from jinja2 import FunctionLoader
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

import wsgiapp
from bench.yardstick import form_values
from bench.yardstick import read_name
from bench.yardstick import sign_name


def jinja_source(name: str) -> str:
    """html/<name> in place of html/layout.html's $main, as wsgiapp joins them, for Jinja: every
    string.Template placeholder a Jinja expression, every other text as it is."""
    main = (wsgiapp.HTML_DIR / name).read_text("utf-8")
    layout = (wsgiapp.HTML_DIR / "layout.html").read_text("utf-8")
    text = Template.pattern.sub(lambda match: main if match["named"] == "main" else match[0], layout)
    parts, done = [], 0
    for match in Template.pattern.finditer(text):
        parts.append(literal(text[done : match.start()]))
        done = match.end()
        key = match["named"] or match["braced"]
        if match["escaped"] is not None:
            parts.append("$")
        elif key is not None:
            parts.append("{{ " + key + " }}")
        else:
            raise ValueError(f"html/{name} or html/layout.html: a $ at {match.start()} names nothing")
    parts.append(literal(text[done:]))
    return "".join(parts)


def literal(text: str) -> str:
    """Text that Jinja outputs as it is, even if it holds Jinja's own delimiters."""
    return "{% raw %}" + text + "{% endraw %}" if any(mark in text for mark in ("{{", "{%", "{#")) else text


app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = wsgiapp.MAX_BODY_SIZE
app.config["MAX_FORM_MEMORY_SIZE"] = wsgiapp.MAX_BODY_SIZE
app.config["MAX_FORM_PARTS"] = wsgiapp.MAX_FORM_PARTS
app.jinja_env.loader = FunctionLoader(jinja_source)
# The layout ends with a newline, which Jinja would drop.
app.jinja_env.keep_trailing_newline = True
STYLE = Markup(wsgiapp.STYLE)  # noqa: S704  (the app's own stylesheet, not a request's text)


def page(template: str, **values: object) -> str:
    return render_template(template, style=STYLE, **values)


def private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Cookie"
    return response


@app.after_request
def security_headers(response: Response) -> Response:
    response.headers.update(wsgiapp.SECURITY_HEADERS)
    return response


@app.errorhandler(HTTPException)
def error_page(error: HTTPException) -> Response:
    title = f"{error.code} {error.name}"
    response = app.make_response((page("message.html", title=title, message=error.description), error.code))
    if error.code == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or ())
    return response


@app.before_request
def refuse_cross_site() -> None:
    if request.method not in wsgiapp.SAFE_METHODS and wsgiapp.is_cross_origin(request.environ):
        abort(403, "Cross-site form posts are refused.")


@app.get("/")
def index() -> str:
    return page("index.html", **form_values())


@app.get("/setcookie")
def setcookie_get() -> Response:
    return redirect("/", 303)


@app.post("/setcookie")
def setcookie() -> Response:
    if request.mimetype not in wsgiapp.FORM_TYPES:
        abort(415, "Send the form as application/x-www-form-urlencoded or multipart/form-data.")
    names = request.form.getlist("nm")
    error = wsgiapp.name_error(names)
    if error is not None:
        typed = wsgiapp.shown_again(names[0]) if names else ""
        body = page("index.html", **form_values(typed, error))
        return private(app.make_response((body, 400)))
    response = app.make_response(page("readcookie.html", title="Cookie set"))
    response.set_cookie(
        cookie_name(), sign_name(names[0]), path="/", httponly=True, samesite="Lax", secure=request.is_secure
    )
    return private(response)


def cookie_name() -> str:
    return wsgiapp.SECURE_COOKIE_NAME if request.is_secure else wsgiapp.COOKIE_NAME


@app.get("/getcookie")
def getcookie() -> Response:
    values = request.cookies.getlist(cookie_name())
    name = read_name(values[0]) if len(values) == 1 else None
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
