"""Gunicorn settings for wsgiapp: `gunicorn wsgiapp:application` reads this file from the current folder."""

import importlib
import logging
import os
import sys

# Server socket: loopback only, port 8000. Put nginx in front to face clients (deploy/), or pass
# -b 0.0.0.0:8000 to listen everywhere. Where PORT is set (the platforms that run images set it, and
# so does the Containerfile), all addresses on that port, as gunicorn itself does without a config.
bind = [f"0.0.0.0:{os.environ['PORT']}"] if os.environ.get("PORT") else ["127.0.0.1:8000"]

# Worker processes: WEB_CONCURRENCY, as gunicorn itself reads it, or one per core.
# Chosen by measurement on a 2-core machine (`python -m bench http --gunicorn=...`, bench/README.md):
# - sync, not gthread: with 4 threads (keep-alive 2 s or 5 s) gthread served no more requests per
#   second and spent no less CPU per request. The app is CPU-bound and holds the GIL, so threads
#   add no throughput; keep-alive saves the connection set-up, and the thread pool spends it again.
# - one per core: 3 or 4 sync workers on 2 cores only took turns on the cores.
# A sync worker serves one request at a time and closes the connection after it, so keepalive and
# threads do not apply; and a slow client holds a whole worker for up to `timeout` seconds. So this
# config belongs behind nginx, which buffers whole requests and responses and keeps the slow
# connections itself (deploy/): do not let clients reach these workers directly.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
worker_class = "sync"
# A worker that does not answer within this many seconds is killed and replaced.
timeout = 30
graceful_timeout = 30

# Logging: access and error logs to stdout, where a process manager collects them.
accesslog = "-"
errorlog = "-"
loglevel = "info"

# Request limits: the app's own URLs are short and it reads a single cookie of at most 4 KB.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# Control socket: off. The app needs no runtime management, and the socket's default path is per
# user, so several instances on one machine would take it from each other.
control_socket_disable = True


# The app, built here in the master from its settings (README: Settings), and inherited by every
# worker the master forks: a worker that replaces another (crash, timeout, max_requests) never reads
# the settings itself, so every worker signs with the same keys. At start a bad setting stops
# gunicorn with wsgiapp's one line and status 4, under --check-config too. kill -HUP runs this file
# again: the app's code and settings are loaded afresh, and if that fails the master logs one line and
# keeps the app it has, as nginx -s reload keeps its configuration; the new workers get that one.
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
