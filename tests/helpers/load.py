"""A load of requests from a few threads, sent while a test breaks and mends the servers behind it, with
every outcome counted."""

import collections
import http.client
import ssl
import threading
import time

from tests.helpers.answer import connect
from tests.helpers.answer import exchange
from tests.helpers.answer import form_from_page
from tests.helpers.oracle import welcome

# The request lines a load may send, and the answer each must get.
EXPECTED = {"GET /": 200, "GET /getcookie": 200, "POST /setcookie": 200, "POST /deletecookie": 303}
# deploy/nginx.conf's limit_req lets 21 posts from an address it has not seen through at once
# (burst=20): a thread moves to a new address of its own after this many requests, at any speed.
REQUESTS_PER_ADDRESS = 20


class Load:
    """Threads sending requests to the site at url until stopped, each its lines in turn, as a
    browser logged in as alice does (with cookie; a post from the site's own page), a thread from
    loopback addresses of its own (127.<thread>.x.y). keep_alive: each address's requests on one
    connection; else a new connection per request.

    Every outcome is counted by request line: the status, "200 without welcome" for a /getcookie
    that welcomes nobody, "no answer: <the exception's name>" for a request that got none."""

    def __init__(
        self,
        url: str,
        cookie: str,
        context: ssl.SSLContext | None = None,
        threads: tuple[tuple[str, ...], ...] = (("GET /getcookie",),) * 2,
        keep_alive: bool = True,
    ) -> None:
        self.url = url
        self.cookie = cookie
        self.context = context
        self.keep_alive = keep_alive
        self.outcomes: collections.Counter[tuple[str, int | str]] = collections.Counter()
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self.run, args=(number, lines)) for number, lines in enumerate(threads, 1)
        ]
        self.seconds = 0.0

    def request(self, line: str) -> dict:
        """exchange()'s arguments for a request line."""
        method, path = line.split()
        if method == "GET":
            return {"path": path, "headers": {"Cookie": self.cookie}}
        post = form_from_page(self.url, "alice")
        if path == "/deletecookie":
            post["body"] = b""
        return {"path": path, **post, "headers": {**post["headers"], "Cookie": self.cookie}}

    def run(self, thread: int, lines: tuple[str, ...]) -> None:
        connection = None
        count = 0
        while not self.stopping.is_set():
            if count % REQUESTS_PER_ADDRESS == 0 or not self.keep_alive:
                if connection is not None:
                    connection.close()
                number = count // REQUESTS_PER_ADDRESS
                address = f"127.{thread}.{number // 250 % 250}.{number % 250 + 1}"
                connection = connect(self.url, address, self.context)
            line = lines[count % len(lines)]
            try:
                answer = exchange(connection, **self.request(line))
            except (OSError, http.client.HTTPException) as error:
                outcome: int | str = f"no answer: {type(error).__name__}"
                # The next request opens it again.
                connection.close()
            else:
                outcome = answer.status
                if line == "GET /getcookie" and outcome == 200 and welcome("alice") not in answer.text:
                    outcome = "200 without welcome"
            with self.changed:
                self.outcomes[line, outcome] += 1
                self.changed.notify_all()
            count += 1
        if connection is not None:
            connection.close()

    def counts(self) -> collections.Counter:
        """Every outcome so far, by request line."""
        with self.changed:
            return collections.Counter(self.outcomes)

    def failures(self) -> collections.Counter:
        """The outcomes that are not the answer EXPECTED."""
        return collections.Counter(
            {(line, outcome): n for (line, outcome), n in self.counts().items() if outcome != EXPECTED[line]}
        )

    def wait_succeeded(self, count: int) -> None:
        """Wait until count more requests have got the answer EXPECTED."""

        def succeeded() -> int:
            return sum(n for (line, outcome), n in self.outcomes.items() if outcome == EXPECTED[line])

        with self.changed:
            goal = succeeded() + count
            assert self.changed.wait_for(
                lambda: succeeded() >= goal or not all(thread.is_alive() for thread in self.threads), 60
            ), f"the load stalled: {self.outcomes}"
        assert all(thread.is_alive() for thread in self.threads), "the load stopped"

    def summary(self) -> str:
        failed = self.failures()
        return (
            f"{self.counts().total()} requests over {self.seconds:.1f} s, {failed.total()} failed:"
            f" {dict(failed)}"
        )

    def __enter__(self) -> "Load":
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        self.seconds = time.monotonic() - self.started
