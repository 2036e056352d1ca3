"""The app as a wheel: built from the repository, installed without -e into a fresh virtual
environment, served by gunicorn from another folder."""

import shutil
import subprocess
import sys
import venv

import pytest

from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome

# Starts real servers: .ci/run runs these on every Python version (pyproject.toml, markers).
pytestmark = [pytest.mark.slow, pytest.mark.every_python]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with the wheel built from the repository installed in it."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", folder / "dist", ROOT],
        check=True,
        capture_output=True,
    )
    (wheel,) = (folder / "dist").glob("wsgiapp-*.whl")
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", wheel], check=True, capture_output=True)
    return python


def test_the_wheel_holds_the_module_and_the_templates(installed):
    where = subprocess.run(
        [installed, "-c", "import wsgiapp; print(wsgiapp.__file__); print(wsgiapp.HTML_DIR)"],
        capture_output=True,
        text=True,
        check=True,
        env={"SECRET_KEY": TEST_KEY},
        cwd=installed.parent,
    ).stdout.split()
    site_packages = (
        installed.parent.parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    assert where == [
        str(site_packages / "site-packages" / "wsgiapp.py"),
        str(site_packages / "site-packages" / "wsgiapp_html"),
    ]


def test_the_installed_wheel_serves_the_pages_from_any_folder(start_server, installed, tmp_path):
    def installed_gunicorn(port: int) -> list[str]:
        # Without gunicorn.conf.py: no control socket in the home folder either.
        return [
            installed.parent / "gunicorn",
            "-b",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "wsgiapp:application",
        ]

    app = start_server(command=installed_gunicorn, cwd=tmp_path)
    index = fetch(app.url + "/")
    assert index.status == 200
    assert '<form action="/setcookie" method="POST">' in index.text
    login = fetch(app.url + "/setcookie", **form("José"))
    assert login.status == 200
    assert login.cookie_pair() == signed("José", TEST_KEY, at=issued_at(login.cookie_pair()))
    greeting = fetch(app.url + "/getcookie", headers={"Cookie": login.cookie_pair()})
    assert welcome("José") in greeting.text


def test_without_its_templates_the_module_says_so_at_import(tmp_path):
    shutil.copy(ROOT / "wsgiapp.py", tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", "import wsgiapp"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "SECRET_KEY": TEST_KEY},
    )
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (
        f"ImportError: wsgiapp cannot find its templates: neither {tmp_path / 'html'} nor"
        f" {tmp_path / 'wsgiapp_html'} exists. Install it from its repository, or from a wheel built there."
    )
