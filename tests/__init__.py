"""The tests of wsgiapp; tests.helpers is what they share."""

import atexit
import os
import shutil
import tempfile

# Importing wsgiapp builds its module-level application from the environment, as a server does: with
# no key set, it keeps a generated key under XDG_STATE_HOME, by default in the user's home. The tests
# build their own apps; that import gets a state folder of this run's own, removed at exit.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="wsgiapp-tests-")
atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], ignore_errors=True)
