"""The OCI image of the Containerfile, built from this repository and run with podman as Kubernetes
runs it: read-only, no capabilities, as its own numeric user, the keys in a Secret's layout of links.
Two containers share one key; gunicorn is PID 1 and stops cleanly; without a key the container stops
with the app's one line; X-Forwarded-Proto counts only from the addresses it is told to trust. And
docs/deploying.md's commands, run as written: the key file of its section 1 given to the container
by a podman secret, the proxy's address found by the command it shows."""

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.servers import free_port
from bench.servers import wait_for
from tests.helpers.answer import attributes
from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.answer import parse_response
from tests.helpers.answer import receive_all
from tests.helpers.containers import BASE
from tests.helpers.containers import IMAGE
from tests.helpers.containers import USER
from tests.helpers.containers import Container
from tests.helpers.containers import answers
from tests.helpers.containers import podman
from tests.helpers.containers import podman_command
from tests.helpers.containers import podman_shell
from tests.helpers.containers import running
from tests.helpers.containers import runtime
from tests.helpers.docs import commands
from tests.helpers.docs import doc_block
from tests.helpers.keys import kubernetes_secret
from tests.helpers.oracle import COOKIE_ATTRIBUTES
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import SECURE_COOKIE_ATTRIBUTES
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import VERSION
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome
from tests.helpers.servers import app_lines

# Slow real-server suites: .ci/run runs them on one Python version (pyproject.toml, markers).
pytestmark = pytest.mark.slow


@pytest.fixture
def secrets(tmp_path):
    """The keys as a Secret volume, readable by the image's user."""
    return kubernetes_secret(tmp_path / "secrets", TEST_KEY, owner=USER)


def test_the_image_runs_as_a_numeric_user_with_its_labels(image):
    config = podman("image", "inspect", "--format", "{{.Config.User}}|{{json .Config.Labels}}", image).stdout
    user, _, labels = config.strip().partition("|")
    assert user == f"{USER}:{USER}" and USER != 0
    assert '"org.opencontainers.image.licenses":"BSD-3-Clause"' in labels
    assert f'"org.opencontainers.image.version":"{VERSION}"' in labels
    assert '"org.opencontainers.image.source"' in labels
    run = podman("run", "--rm", *runtime(), "--entrypoint", "id", image, "-u")
    assert run.stdout == f"{USER}\n"


def test_the_image_holds_no_compiler_pip_or_apt_lists(image):
    script = (
        "ls /var/lib/apt/lists | grep -v -x -e lock -e partial;"
        " for tool in cc gcc pip pip3; do command -v $tool; done;"
        " ls /opt/wsgiapp/bin | grep -x -e pip -e pip3;"
        " ls -d /root/.cache /tmp/wheels 2>/dev/null; true"
    )
    run = podman("run", "--rm", *runtime(), "--user", "0", "--entrypoint", "sh", image, "-c", script)
    assert run.stdout == ""


def test_the_image_adds_at_most_100_mb_to_its_base(image):
    sizes = [int(podman("image", "inspect", "--format", "{{.Size}}", name).stdout) for name in (BASE, image)]
    assert sizes[1] - sizes[0] <= 100 * 1000 * 1000, sizes


@pytest.mark.parametrize("name", ["alice", "José"])
def test_two_containers_share_one_key(image, secrets, name):
    """A login on either container is welcomed by the other: the key is the mounted file's."""
    with running(secrets) as first, running(secrets) as second:
        for signer, reader in [(first, second), (second, first)]:
            cookie = fetch(signer.url + "/setcookie", **form(name)).cookie_pair()
            assert cookie == signed(name, TEST_KEY, at=issued_at(cookie))
            assert welcome(name) in fetch(reader.url + "/getcookie", headers={"Cookie": cookie}).text


def test_gunicorn_is_pid_1_and_stops_cleanly(image, secrets):
    """SIGTERM from podman stop: gunicorn lets the workers finish and exits 0, well within 10 s."""
    with running(secrets) as container:
        command = podman("exec", container.name, "cat", "/proc/1/cmdline").stdout.split("\0")
        assert command[:4] == [
            "/opt/wsgiapp/bin/python3",
            "/opt/wsgiapp/bin/gunicorn",
            "-c",
            "/etc/wsgiapp/gunicorn.conf.py",
        ]
        assert "Listening at: http://0.0.0.0:8000" in container.logs()
        started = time.monotonic()
        podman("stop", "--time", "10", container.name)
        took = time.monotonic() - started
        assert container.state() == "exited 0"
        assert took < 10
        assert "Shutting down: Master" in container.logs()


def read_head(sock: socket.socket) -> bytes:
    """What the peer sends up to the end of one response head (its empty line), byte by byte: no
    more, so that what follows is left to read."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"closed after {head!r}"
        head += byte
    return head


def test_a_request_in_flight_when_the_container_stops_is_answered(image, secrets):
    """A rolling update stops a pod with SIGTERM: the worker finishes the request it is reading (here
    a login whose body is still coming), answers it, and the container then exits 0. The request
    expects 100-continue: gunicorn's worker sends "100 Continue" once it has read the head, and only
    then is the container stopped, so SIGTERM finds the request in the worker, not in the queue."""
    body = b"nm=alice"
    head = (
        f"POST /setcookie HTTP/1.1\r\nHost: localhost\r\nContent-Type: {URLENCODED}\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with running(secrets) as container:
        with socket.create_connection(("127.0.0.1", container.port), timeout=20) as sock:
            sock.sendall(head)
            assert read_head(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
            command, env = podman_command("stop", "--time", "10", container.name)
            stopping = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for(lambda: "Handling signal: term" in container.logs(), 10, container.logs)
                sock.sendall(body)
                answer = parse_response(receive_all(sock))
            finally:
                stopping.wait(timeout=30)
        assert answer.status == 200
        assert answer.cookie_pair() == signed("alice", TEST_KEY, at=issued_at(answer.cookie_pair()))
        assert stopping.returncode == 0
        assert container.state() == "exited 0"


def test_without_a_key_the_container_stops_with_one_line(image):
    """The image never makes a key of its own (it would differ per replica and vanish with the pod)."""
    run = podman("run", "--rm", *runtime(), "--read-only", "--cap-drop=ALL", image, check=False)
    assert run.returncode == 4
    assert app_lines(run.stderr) == [
        (
            "ERROR",
            "wsgiapp: SECRET_KEY and SECRET_KEY_FILE are not set, and a generated key cannot be kept in"
            " /nonexistent/.local/state/wsgiapp/secret_key (Read-only file system):"
            " set SECRET_KEY or SECRET_KEY_FILE",
        )
    ]
    assert len(run.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("options", "workers"),
    [((), None), (("--cpus=1",), 1), (("--cpuset-cpus=0",), 1)],
    ids=["unlimited", "a CPU quota of 1", "pinned to one CPU"],
)
def test_one_worker_per_cpu_the_container_may_use(image, secrets, options, workers):
    """gunicorn.conf.py counts the CPUs of the process's affinity and its cgroup's quota, not the
    host's cores (os.cpu_count()). Unlimited, as many as this process may use."""
    workers = workers or len(os.sched_getaffinity(0))
    with running(secrets, options=options) as container:
        # gunicorn's master and its workers.
        wait_for(lambda: len(container.processes()) == 1 + workers, 30, container.logs)
        assert container.logs().count("Booting worker with pid") == workers


def peer_address(container) -> str:
    """The address the container sees requests from: the first field of its access log's last line."""
    fetch(container.url + "/robots.txt")
    (line,) = [line for line in container.logs().splitlines() if '"GET /robots.txt ' in line][-1:]
    return line.split(" ", 1)[0]


def test_x_forwarded_proto_counts_only_from_the_trusted_address(image, secrets):
    """FORWARDED_ALLOW_IPS names the proxy: from it, https gets the __Host- cookie, Secure; a
    container that trusts only gunicorn's default (127.0.0.1) sees the same request as plain http."""
    https = form("alice", {"X-Forwarded-Proto": "https"})
    with running(secrets) as untrusting:
        proxy = peer_address(untrusting)
        assert proxy != "127.0.0.1"
        header = fetch(untrusting.url + "/setcookie", **https).cookie_header()
        pair = header.split("; ")[0]
        assert attributes(header) == {signed("alice", TEST_KEY, at=issued_at(pair)), *COOKIE_ATTRIBUTES}
    with running(secrets, env={"FORWARDED_ALLOW_IPS": proxy}) as trusting:
        header = fetch(trusting.url + "/setcookie", **https).cookie_header()
        pair = header.split("; ")[0]
        secure = signed("alice", TEST_KEY, cookie="__Host-userID", at=issued_at(pair))
        assert attributes(header) == {secure, *SECURE_COOKIE_ATTRIBUTES}


# docs/deploying.md: the key file as section 1 makes it, and the container as section 7 runs it.
DEPLOYING = ROOT / "docs" / "deploying.md"
KEYS_SECTION = "1. The app and its keys"
CONTAINER_SECTION = "7. Containers and Kubernetes"


def in_place_of(text: str, old: str, new: str) -> str:
    """text with old, which must occur exactly once, replaced: the doc and the test must not drift."""
    assert text.count(old) == 1, f"{DEPLOYING.name} should hold {old!r} once"
    return text.replace(old, new)


@dataclass
class Documented:
    container: Container
    key_file: Path
    block: str


@pytest.fixture
def documented(image, tmp_path):
    """The key file made by section 1's commands as written, in a folder of the test's in place of
    /etc/wsgiapp; then section 7's commands as written, on the tests' storage: the secret made from
    it, the container run with it (a free port in place of 8000, the tests' image and runtime). The
    container and the secret removed after."""
    folder = tmp_path / "etc-wsgiapp"
    making = [
        command
        for command in commands(doc_block("docs/deploying.md", KEYS_SECTION, "/etc/wsgiapp/secret_keys"))
        if "/etc/wsgiapp" in command and "gunicorn" not in command
    ]
    subprocess.run(
        ["bash", "-c", "set -e\n" + "\n".join(making).replace("/etc/wsgiapp", str(folder))],
        check=True,
        timeout=30,
    )
    block = doc_block("docs/deploying.md", CONTAINER_SECTION, "podman secret create")
    name = re.search(r"--name (\S+)", block)[1]
    secret = re.search(r"^podman secret create (\S+) ", block, re.M)[1]
    container = Container(name, free_port())
    script = in_place_of(block, "/etc/wsgiapp/secret_keys", str(folder / "secret_keys"))
    script = in_place_of(script, "-p 127.0.0.1:8000:8000", f"-p 127.0.0.1:{container.port}:8000")
    script = in_place_of(script, "podman run ", " ".join(["podman run", *runtime(), ""]))
    script = re.sub(r" wsgiapp\n\Z", f" {IMAGE}\n", script)
    assert script.endswith(f" {IMAGE}\n"), f"{DEPLOYING.name}: the podman run should end with the image"
    try:
        podman_shell(script)
        wait_for(lambda: answers(container), 30, container.logs)
        yield Documented(container, folder / "secret_keys", block)
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)
        podman("secret", "rm", secret, check=False)


def test_the_documented_container_signs_with_the_key_file_of_section_1(documented):
    """The key file is root's, mode 0600, which the image's user could not read from a mount; the
    podman secret gives the container a copy that it reads, and signs with."""
    key_file = documented.key_file
    assert (key_file.parent.stat().st_mode & 0o7777, key_file.parent.stat().st_uid) == (0o700, 0)
    assert (key_file.stat().st_mode & 0o7777, key_file.stat().st_uid, key_file.stat().st_gid) == (0o600, 0, 0)
    (key,) = key_file.read_text().splitlines()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    url = documented.container.url
    cookie = fetch(url + "/setcookie", **form("alice")).cookie_pair()
    assert cookie == signed("alice", key, at=issued_at(cookie))
    assert welcome("alice") in fetch(url + "/getcookie", headers={"Cookie": cookie}).text


def test_the_documented_gateway_is_the_proxy_the_container_trusts(documented):
    """The address section 7's command prints is the one the container sees requests from the host
    come from, as nginx's would: with X-Forwarded-Proto https from there, the cookie is __Host-, Secure."""
    (gateway_command,) = re.findall(r"\$\((podman network inspect [^)]*)\)", documented.block)
    gateway = podman_shell(gateway_command).stdout
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+\n", gateway), gateway
    assert peer_address(documented.container) == gateway.strip()
    https = form("alice", {"X-Forwarded-Proto": "https"})
    header = fetch(documented.container.url + "/setcookie", **https).cookie_header()
    (key,) = documented.key_file.read_text().splitlines()
    pair = header.split("; ")[0]
    secure = signed("alice", key, cookie="__Host-userID", at=issued_at(pair))
    assert attributes(header) == {secure, *SECURE_COOKIE_ATTRIBUTES}
