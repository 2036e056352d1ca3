"""Gunicorn settings for wsgiapp: `gunicorn wsgiapp:application` reads this file from the current folder.

Only what differs from gunicorn's defaults is set here. The defaults kept, on purpose: the address
127.0.0.1:8000, or 0.0.0.0:$PORT where PORT is set (put nginx in front to face clients: deploy/);
the sync worker (measured against gthread with 4 threads on 2 cores: no more requests per second,
no less CPU per request; `python -m bench http --gunicorn=...`, bench/README.md); a 30 s timeout;
the error log on stderr; the request line and header size limits. A sync worker serves one request
at a time, and a slow client holds it for up to the timeout: this config belongs behind nginx,
which buffers whole requests and keeps slow connections itself.
"""

import importlib
import logging
import os
import sys

# One worker per core (gunicorn's default is one): 3 or 4 on 2 cores only took turns on the cores.
# WEB_CONCURRENCY still sets it, as gunicorn itself reads it.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))

# The access log on stdout, beside the error log, where a process manager collects them.
accesslog = "-"

# The app reads one cookie of at most 4 KB and needs no more than a browser's usual headers.
limit_request_fields = 50

# Control socket: off. The app needs no runtime management, and the socket's default path is per
# user, so several instances on one machine would take it from each other.
control_socket_disable = True


# The app, built here in the master from its settings (README: Settings), and inherited by every
# worker the master forks: a worker that replaces another (crash, timeout, max_requests) never reads
# the settings itself, so every worker signs with the same keys. At start a bad setting stops
# gunicorn as wsgiapp.settings_or_exit says, under --check-config too. kill -HUP runs this file
# again: the module is dropped and imported afresh, so the app's code and settings are new; if that
# fails, the master logs one line and keeps the app it has, as nginx -s reload keeps its
# configuration, and the new workers get that one.
def _load_app():
    running = sys.modules.get("wsgiapp")
    if running is None or "application" not in vars(running):
        wsgiapp = importlib.import_module("wsgiapp")
        wsgiapp.application = wsgiapp.make_app(wsgiapp.settings_or_exit(os.environ))
        return
    del sys.modules["wsgiapp"]
    try:
        wsgiapp = importlib.import_module("wsgiapp")
        wsgiapp.application = wsgiapp.make_app(wsgiapp.settings_from(os.environ))
    except Exception as error:  # a bad setting, or new code that cannot load: keep serving the old
        sys.modules["wsgiapp"] = running
        logging.getLogger("gunicorn.error").error("wsgiapp: reload refused, serving as before: %s", error)


_load_app()
