"""The fixtures: WSGI-level clients of the app built from test settings (tests.helpers has the rest)."""

import os

# Importing wsgiapp builds its module-level `application` from the environment, as a server's import
# does. The tests build their own apps from Settings (tests.helpers.inprocess); this process's own
# import gets a key of its own, so that it neither depends on the settings of the shell that runs
# the tests nor makes a generated key file in its home. Servers started by the tests get their
# environment from bench.servers.server_env.
for name in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SECRET_KEY_FILE", "COOKIE_MAX_AGE"):
    os.environ.pop(name, None)
os.environ["SECRET_KEY"] = "key-of-the-tests-own-import-of-wsgiapp"

from wsgiref.validate import validator  # noqa: E402

import pytest  # noqa: E402

from tests.helpers.containers import IMAGE  # noqa: E402
from tests.helpers.containers import build_image  # noqa: E402
from tests.helpers.containers import require_podman  # noqa: E402
from tests.helpers.containers import store  # noqa: E402
from tests.helpers.inprocess import TEST_APP  # noqa: E402
from tests.helpers.inprocess import BufferedClient  # noqa: E402


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
