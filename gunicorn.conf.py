"""Gunicorn settings for wsgiapp: `gunicorn wsgiapp:application` reads this file from the current folder."""

import importlib
import os
import sys

# Server socket: loopback only, as gunicorn's own default. Put nginx in front to face clients
# (deploy/), or pass -b 0.0.0.0:8000 to listen everywhere.
bind = ["127.0.0.1:8000"]

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

# Control socket (gunicorn 25.1+): off. The app needs no runtime management, and the socket's
# default path is per user, so several instances on one machine would take it from each other.
# Older gunicorns ignore the setting.
control_socket_disable = True

# The app's settings (SECRET_KEY, SECRET_KEY_FILE, COOKIE_MAX_AGE...), checked here in the master
# before any worker is forked: a bad one stops gunicorn with one line (wsgiapp prints it and exits),
# at start, under --check-config, and at kill -HUP, which reads this file again. With no key set,
# this also makes the generated key file once. Then the module is dropped, so that each worker
# imports the app itself and reads the settings afresh when it starts: that is how kill -HUP
# rotates the keys of SECRET_KEY_FILE.
importlib.import_module("wsgiapp")
del sys.modules["wsgiapp"]
