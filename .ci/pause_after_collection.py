"""A pytest plugin of .ci/run's: a pause of WSGIAPP_PAUSE_AFTER_COLLECTION seconds (70 unless told)
between collection and the first test. A test whose expected answer was fixed when it was collected
(a cookie signed then, with a minute of slack) fails after it: the tests take the time when they
send the request, or inject a clock."""

import os
import time

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    time.sleep(float(os.environ.get("WSGIAPP_PAUSE_AFTER_COLLECTION", "70")))
