"""Gunicorn settings for wsgiapp: `gunicorn wsgiapp:application` reads this file from the current folder.

Only what differs from gunicorn's defaults is set here, and the file imports nothing of the app: another
app served with it gets only these settings. The defaults kept, on purpose: the address 127.0.0.1:8000,
or 0.0.0.0:$PORT where PORT is set; the sync worker (measured against gthread: bench/README.md, "The
gunicorn settings"); a 30 s timeout; the error log on stderr; the request line and header size limits.
A slow client holds a sync worker: this config belongs behind nginx (deploy/; why: docs/security.md,
"Slow clients").
"""

import math
import os
import sys


def _read(path):
    with open(path) as file:
        return file.read().strip()


def _cpu_quota():
    """The CPUs the cgroup's quota allows, rounded up; None where it sets none. cgroup v2's cpu.max
    ("150000 100000", or "max 100000"), else cgroup v1's cfs_quota_us (-1 for none) over cfs_period_us."""
    try:
        quota, period = _read("/sys/fs/cgroup/cpu.max").split()
    except OSError:
        try:
            quota = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
            period = _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    return math.ceil(int(quota) / int(period))


def _usable_cpus():
    """The CPUs this process may run on (its affinity: taskset, --cpuset-cpus), or fewer where its
    cgroup's CPU quota says so (--cpus, a Kubernetes CPU limit). Not os.cpu_count(): the host's."""
    count = len(os.sched_getaffinity(0))
    return max(1, min(count, _cpu_quota() or count))


# One worker per usable CPU (gunicorn's default is one): 3 or 4 on 2 cores only took turns on the
# cores. WEB_CONCURRENCY, where set, is gunicorn's own default for the count, and wins.
if "WEB_CONCURRENCY" not in os.environ:
    workers = _usable_cpus()

# The master loads the app, and every worker it forks inherits it: the app's settings are read once
# per instance, and a worker that replaces another (crash, timeout, max_requests) reads none. A bad
# setting stops gunicorn at start. kill -HUP loads the app afresh: see on_reload.
preload_app = True

# The access log on stdout, beside the error log, where a process manager collects them.
accesslog = "-"

# The app reads one cookie of at most 4 KB and needs no more than a browser's usual headers.
limit_request_fields = 50

# The app is mounted at /: no request header may set SCRIPT_NAME or PATH_INFO, even from a trusted
# proxy's address (gunicorn lets one set both by default, and a wrong SCRIPT_NAME is its own 500).
forwarder_headers = ""

# Control socket: off. The app needs no runtime management, and the socket's default path is per
# user, so several instances on one machine would take it from each other.
control_socket_disable = True


def on_starting(server):
    """--reload restarts workers from the app the master preloaded, unchanged: say so, and what to use."""
    if server.cfg.reload:
        server.log.warning(
            "wsgiapp: --reload serves the code and pages loaded at start, not your edits (preload_app);"
            " while editing, run `python wsgiapp.py`, which reloads both"
        )


def on_reload(server):
    """kill -HUP: gunicorn has read this file again; load the app's module afresh too (code, templates,
    settings), as gunicorn does for an app that is not preloaded, before it forks the new workers.
    If the new app cannot load, for any reason (an exception, or SystemExit at import as a bad
    setting gives), keep the running one and say so in one line, as nginx -s reload keeps its
    configuration."""
    name = server.app.app_uri.partition(":")[0]
    running = sys.modules.pop(name, None)
    try:
        server.app.callable = server.app.load()
    except (Exception, SystemExit) as error:
        if running is not None:
            sys.modules[name] = running
        if isinstance(error, SystemExit):
            reason = f"it exited at import with status {error.code}"
        else:
            reason = f"{type(error).__name__}: {error}"
        server.log.error("%s: reload refused, serving as before: %s", name, reason)
