"""The fixtures: WSGI-level clients of the app built from test settings; live servers, started by a
factory that stops them at the test's end (Werkzeug's dev_server fixture), or for a whole module;
the image. tests.helpers has the rest."""

import os

# Importing wsgiapp builds its module-level `application` from the environment, as a server's import
# does. The tests build their own apps from Settings (tests.helpers.inprocess); this process's own
# import gets a key of its own, so that it neither depends on the settings of the shell that runs
# the tests nor makes a generated key file in its home. Servers started by the tests get their
# environment from bench.servers.server_env.
for name in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SECRET_KEY_FILE", "COOKIE_MAX_AGE"):
    os.environ.pop(name, None)
os.environ["SECRET_KEY"] = "key-of-the-tests-own-import-of-wsgiapp"

import contextlib  # noqa: E402
from wsgiref.validate import validator  # noqa: E402

import pytest  # noqa: E402

from tests.helpers.containers import IMAGE  # noqa: E402
from tests.helpers.containers import build_image  # noqa: E402
from tests.helpers.containers import require_podman  # noqa: E402
from tests.helpers.containers import store  # noqa: E402
from tests.helpers.inprocess import TEST_APP  # noqa: E402
from tests.helpers.inprocess import BufferedClient  # noqa: E402
from tests.helpers.live import INSTANCE  # noqa: E402
from tests.helpers.live import TLS  # noqa: E402
from tests.helpers.live import live_nginx  # noqa: E402
from tests.helpers.live import live_server  # noqa: E402
from tests.helpers.servers import make_tls  # noqa: E402


@pytest.fixture
def client():
    """A client for TEST_APP wrapped in wsgiref's validator, keeping cookies between requests."""
    return BufferedClient(validator(TEST_APP))


@pytest.fixture
def raw_client():
    """A client for TEST_APP that sends only the Cookie header a test gives it."""
    return BufferedClient(validator(TEST_APP), use_cookies=False)


@pytest.fixture(scope="session")
def image(tmp_path_factory):
    """The image of the Containerfile, built once a session in a podman storage of the tests' own
    (its base made there first); the storage and all it holds removed at the end."""
    require_podman()
    with store(tmp_path_factory.mktemp("podman")):
        build_image()
        yield IMAGE


@pytest.fixture
def start_server():
    """start(*options, command=gunicorn_command, key=TEST_KEY, env=None, port=None, cwd=ROOT): a live
    server (live_server), gunicorn unless command says otherwise; all it started stopped at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda *options, **what: stack.enter_context(live_server(*options, **what))


@pytest.fixture
def start_nginx(tls):
    """start(*ports): deploy/nginx.conf over TLS in front of the servers on ports (live_nginx); all it
    started stopped at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda *ports: stack.enter_context(live_nginx(ports, tls))


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    """A certificate for the site's name, and a client context that trusts it, for the session."""
    folder = tmp_path_factory.mktemp("tls")
    return TLS(folder, make_tls(folder))


@pytest.fixture(scope="module")
def app():
    """gunicorn with the repository's config, signing with TEST_KEY, for the whole module."""
    with live_server() as server:
        yield server


@pytest.fixture(scope="module")
def instances():
    """Two gunicorn instances as deploy/nginx.conf expects them (INSTANCE), for the whole module."""
    with live_server(*INSTANCE) as first, live_server(*INSTANCE) as second:
        yield first, second


@pytest.fixture(scope="module")
def site(instances, tls):
    """The site as deployed, for the whole module: deploy/nginx.conf over TLS in front of instances."""
    with live_nginx([server.port for server in instances], tls) as proxy:
        yield proxy
