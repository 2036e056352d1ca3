"""What the tests (and the benchmarks and docs/screenshots.py) share.

- oracle: what the app must answer, written here without the app's code;
- answer: one class for an answer, however it was received, and the HTTP clients that give one;
- inprocess: the app called as a WSGI server calls it (call), the streams a server's wsgi.input
  may be, and Werkzeug's test client for the browser's side;
- forms: form bodies, urlencoded and multipart, for the app in process or raw bytes to a server;
- servers: gunicorn, the development server and nginx as subprocesses, and waiting on them;
- live: those servers started with only what differs said (the conftest's factory fixtures use it);
- load: requests from a few threads while a test breaks the servers behind them;
- keys: a key file, and a Kubernetes Secret's layout of one.

Run from the repository root, `tests.helpers` imports as it is: pytest puts the root on sys.path
(tests/ is a package), and so does `python -m bench`.
"""
