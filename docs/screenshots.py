"""Take the README's screenshots of the pages (800x360 PNG), in headless Chromium against gunicorn.

Run from the repository root, with the test extra installed: `python -m docs.screenshots` (as a
module, so that the root is on sys.path and bench.servers imports).
"""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.servers import CHROMIUM_ARGS
from bench.servers import free_port
from bench.servers import gunicorn_command
from bench.servers import serve

DOCS = Path(__file__).resolve().parent


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium)")
    port = free_port()
    with (
        serve(gunicorn_command(port, "--workers", "1"), port, env={"SECRET_KEY": "screenshots"}) as app,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 360})
        # A name pasted with a zero-width space: refused, and kept in the field without it.
        page.goto(app.url + "/")
        page.get_by_label("Enter userID").fill("ad\u200bmin")
        page.get_by_role("button", name="Login").click()
        page.wait_for_url(app.url + "/setcookie")
        page.screenshot(path=DOCS / "refused.png")
        page.goto(app.url + "/")
        page.get_by_label("Enter userID").fill("alice")
        page.screenshot(path=DOCS / "form.png")
        page.get_by_role("button", name="Login").click()
        page.wait_for_url(app.url + "/setcookie")
        page.screenshot(path=DOCS / "cookie-set.png")
        page.get_by_role("link", name="Click here to read cookie").click()
        page.wait_for_url(app.url + "/getcookie")
        page.screenshot(path=DOCS / "welcome.png")
        browser.close()


if __name__ == "__main__":
    main()
