"""The app in a real browser: Debian's headless Chromium, driven by Playwright, against gunicorn.

Each test watches the page for console messages, uncaught errors, dialogs (an alert() would mean
a name ran as script) and Content-Security-Policy violations, and asserts there were none.
"""

import re

import pytest

from bench.servers import CHROMIUM_ARGS
from tests.helpers.answer import SITE_NAME
from tests.helpers.engines import browser_env
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import sign
from tests.helpers.servers import require_chromium
from tests.helpers.sites import NeighbourPage
from tests.helpers.sites import attacker_page
from tests.helpers.sites import served

# Slow real-server suites: .ci/run runs them on one Python version (pyproject.toml, markers).
pytestmark = pytest.mark.slow

NAMES = ["alice", "Zoë Ångström 李小龍 🍪", "<b>bob</b> & <script>alert(1)</script>", 'say "hi", a\\b; 100%']

# Reports each securitypolicyviolation event of every document to the test.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium for the whole module, with a home folder of its own (where it keeps its
    certificate store, ~/.local/share/pki)."""
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("home")
    with sync_playwright() as playwright:
        # The site's name of deploy/nginx.conf, and its subdomains, on this machine.
        resolve = f"--host-resolver-rules=MAP {SITE_NAME} 127.0.0.1, MAP *.{SITE_NAME} 127.0.0.1"
        browser = playwright.chromium.launch(
            executable_path=chromium, args=[*CHROMIUM_ARGS, resolve], env=browser_env(home)
        )
        yield browser
        browser.close()


class Watched:
    """A page in a fresh browser context, and what went wrong in it. The test certificate
    authority is not the browser's: its errors are ignored (the site is still https to it)."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 800, "height": 600}, ignore_https_errors=True)
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.context.expose_function("reportViolation", lambda text: self.problems.append(f"CSP: {text}"))
        self.context.add_init_script(REPORT_VIOLATIONS)
        self.page = self.context.new_page()
        self.page.on("console", lambda msg: self.problems.append(f"console {msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("dialog", lambda dialog: self.problems.append(f"dialog: {dialog.message}"))
        self.page.on("request", lambda request: self.requests.append(f"{request.method} {request.url}"))

    def cookies(self) -> list[dict]:
        return self.context.cookies()


@pytest.fixture
def watched(browser):
    watched = Watched(browser)
    yield watched
    watched.context.close()


def log_in(watched: Watched, app, name: str) -> None:
    """Type the name into the form, submit it, and check the page that says the cookie is set."""
    page = watched.page
    page.goto(app.url + "/")
    assert page.title() == "Enter userID"
    page.get_by_label("Enter userID").fill(name)
    page.get_by_role("button", name="Login").click()
    page.wait_for_url(app.url + "/setcookie")
    assert page.title() == "Cookie set"
    assert page.locator("h1").text_content() == "Cookie set"


@pytest.mark.parametrize("name", NAMES)
def test_log_in_and_see_the_name_exactly(watched, app, name):
    log_in(watched, app, name)
    page = watched.page
    page.get_by_role("link", name="Click here to read cookie").click()
    page.wait_for_url(app.url + "/getcookie")
    assert page.title() == "Welcome"
    assert page.locator("h1").text_content() == f"welcome {name}"
    # The name is text: no element of it made it into the page.
    assert page.locator("h1 *").count() == 0
    assert page.locator("script").count() == 0
    # The pages in order, and the icon they declare, fetched once or more as the browser likes;
    # nothing else. A failed or refused icon would be among the problems.
    icon = f"GET {app.url}/favicon.svg"
    assert [request for request in watched.requests if request != icon] == [
        f"GET {app.url}/",
        f"POST {app.url}/setcookie",
        f"GET {app.url}/getcookie",
    ]
    assert icon in watched.requests
    assert watched.problems == []


@pytest.mark.parametrize("name", NAMES)
def test_the_cookie_as_the_browser_keeps_it(watched, app, name):
    log_in(watched, app, name)
    (kept,) = watched.cookies()
    expected = {
        "name": "userID",
        "value": sign(name, at=issued_at(kept["value"])),
        "domain": "127.0.0.1",
        "path": "/",
        "expires": -1,
        "httpOnly": True,
        "secure": False,
        "sameSite": "Lax",
    }
    assert {key: kept[key] for key in expected} == expected
    assert watched.page.evaluate("document.cookie") == ""
    assert watched.problems == []


def test_log_out_removes_the_cookie(watched, app):
    log_in(watched, app, "alice")
    page = watched.page
    page.goto(app.url + "/getcookie")
    assert page.locator("h1").text_content() == "welcome alice"
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(app.url + "/")
    assert page.title() == "Enter userID"
    assert watched.cookies() == []
    page.goto(app.url + "/getcookie")
    assert page.locator("h1").text_content() == "No user is set"
    assert watched.problems == []


def test_the_watch_sees_a_csp_violation(watched, app):
    """The check that finds no violation above does find one: an inline style without its hash."""
    watched.page.goto(app.url + "/")
    watched.page.evaluate(
        "document.head.append(Object.assign(document.createElement('style'), {textContent: 'p {}'}))"
    )
    expected = "CSP: style-src-elem blocked inline"
    # Events reach the test while Playwright waits: give the report up to 10 s.
    for _ in range(100):
        if expected in watched.problems:
            break
        watched.page.wait_for_timeout(100)
    assert expected in watched.problems


def test_a_sibling_subdomains_lone_quotes_do_not_log_the_user_out(watched, site):
    """Over https through deploy/nginx.conf: a sibling subdomain sets two cookies for the parent
    domain whose values are a lone quote, one for /getcookie, one for /. Chromium sends them around
    the user's __Host- cookie, `a="; __Host-userID=...; b="`, and the user is still welcomed."""
    page = watched.page
    page.goto(site.url + "/")
    page.get_by_label("Enter userID").fill("alice")
    page.get_by_role("button", name="Login").click()
    page.wait_for_url(site.url + "/setcookie")
    # As the sibling's answer would set them (Domain=example.com; Secure): what Chromium keeps.
    sibling = {"value": '"', "domain": f".{SITE_NAME}", "secure": True}
    watched.context.add_cookies([{"name": "a", "path": "/getcookie", **sibling}])
    watched.context.add_cookies([{"name": "b", "path": "/", **sibling}])
    with page.expect_response(site.url + "/getcookie") as answered:
        page.goto(site.url + "/getcookie")
    assert re.fullmatch(r'a="; __Host-userID=[^;]+; b="', answered.value.request.header_value("cookie"))
    assert page.locator("h1").text_content() == "welcome alice"
    assert answered.value.header_value("set-cookie") is None
    assert watched.problems == []


def test_a_neighbours_cookie_does_not_log_the_user_out(watched, app):
    """The user logs in, then visits another service of the host, which sets pref=caf\xe9; the
    browser sends both cookies back to the app, which still welcomes the user and clears nothing."""
    log_in(watched, app, "alice")
    page = watched.page
    # The neighbour keeps serving while the browser may still ask it for an icon.
    with served(NeighbourPage) as port:
        page.goto(f"http://127.0.0.1:{port}/")
        assert sorted(cookie["name"] for cookie in watched.cookies()) == ["pref", "userID"]
        with page.expect_response(app.url + "/getcookie") as answered:
            page.goto(app.url + "/getcookie")
        assert page.locator("h1").text_content() == "welcome alice"
        assert "pref=" in answered.value.request.header_value("cookie")
        assert answered.value.header_value("set-cookie") is None
        assert sorted(cookie["name"] for cookie in watched.cookies()) == ["pref", "userID"]
        assert watched.problems == []


# localhost is another site than 127.0.0.1; the same host on another port is the same site but
# another origin. The app refuses both.
@pytest.mark.parametrize(("host", "fetch_site"), [("localhost", "cross-site"), ("127.0.0.1", "same-site")])
@pytest.mark.parametrize("logged_in", [False, True], ids=["logged-out", "logged-in"])
def test_a_form_posted_from_another_site_does_not_log_in(watched, app, host, fetch_site, logged_in):
    if logged_in:
        log_in(watched, app, "alice")
    before = watched.cookies()
    page = watched.page
    with served(attacker_page(app.url)) as port:
        with page.expect_response(app.url + "/setcookie") as posted:
            page.goto(f"http://{host}:{port}/")
        page.wait_for_load_state()
    response = posted.value
    assert response.status == 403
    assert response.request.header_value("sec-fetch-site") == fetch_site
    assert response.header_value("set-cookie") is None
    assert page.locator("h1").text_content() == "403 Forbidden"
    assert watched.cookies() == before
    page.goto(app.url + "/getcookie")
    assert page.locator("h1").text_content() == ("welcome alice" if logged_in else "No user is set")
    # Chromium logs any 4xx of a page it loads; the 403 is the one expected.
    assert watched.problems == [
        "console error: Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
