"""Lighthouse (npm, 12.2.3) with Debian's Chromium against the real gunicorn: the form, the page
without a user and the welcome page score 100 in all four categories."""

import json
import os
import shutil
import subprocess

import pytest

from bench.servers import CHROMIUM_ARGS
from tests.helpers.engines import browser_env
from tests.helpers.oracle import signed
from tests.helpers.servers import require
from tests.helpers.servers import require_chromium

pytestmark = pytest.mark.slow

CATEGORIES = {"performance": 1, "accessibility": 1, "best-practices": 1, "seo": 1}


@pytest.fixture(scope="module")
def lighthouse():
    """The lighthouse command: $WSGIAPP_LIGHTHOUSE (set by .ci/run), else one on PATH."""
    found = os.environ.get("WSGIAPP_LIGHTHOUSE") or shutil.which("lighthouse")
    require(
        "Lighthouse",
        found,
        "npm install lighthouse@12.2.3, then set WSGIAPP_LIGHTHOUSE to its bin/lighthouse",
    )
    return found


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/", {}), ("/getcookie", {}), ("/getcookie", {"Cookie": signed("alice")})],
    ids=["form", "no-user", "welcome"],
)
def test_lighthouse_scores_100(lighthouse, app, tmp_path, path, headers):
    chromium = require_chromium()
    report = tmp_path / "report.json"
    command = [
        lighthouse,
        app.url + path,
        "--output=json",
        f"--output-path={report}",
        "--quiet",
        f"--extra-headers={json.dumps(headers)}",
        f"--chrome-flags=--headless=new {' '.join(CHROMIUM_ARGS)}",
    ]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        # A home of its own: Chromium keeps a certificate store there (~/.local/share/pki).
        env=browser_env(tmp_path, CHROME_PATH=chromium),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["lighthouseVersion"] == "12.2.3"
    failed = {
        audit["id"]: audit.get("explanation") or audit["title"]
        for audit in result["audits"].values()
        if audit["scoreDisplayMode"] == "binary" and audit["score"] == 0
    }
    assert failed == {}
    assert {name: category["score"] for name, category in result["categories"].items()} == CATEGORIES
