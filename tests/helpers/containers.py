"""The image of the Containerfile, built and run with podman as root, the way the tests need it here.

- Everything podman makes (the base, the image, containers, secrets) goes to a storage of the tests' own,
  under their temporary folder, and is removed with it: the machine's own images are never touched, and a
  user's later build never finds what the tests made.
- The base, `debian:<suite>-slim`, cannot be pulled where no image registry is reached: it is made from
  Debian's own packages instead (debootstrap, then set up as the official slim images are) and imported
  under that name, in the tests' storage only.
- crun refuses some machines' cgroup layout: runc is used where it is installed. Raising the open-file
  limit is not permitted everywhere: podman gets a containers.conf that asks for no limits.
- The build reaches pip's index through the host's network, with the CA bundle of PIP_CERT (set where a
  proxy needs one) mounted at a path of its own.
"""

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.servers import free_port
from bench.servers import wait_for
from tests.helpers.answer import fetch
from tests.helpers.oracle import ROOT
from tests.helpers.servers import require
from tests.helpers.servers import require_executable

CONTAINERFILE = ROOT / "Containerfile"
SUITE = re.search(r"^ARG SUITE=(\w+)$", CONTAINERFILE.read_text(), re.M)[1]
BASE = f"docker.io/library/debian:{SUITE}-slim"
IMAGE = "localhost/wsgiapp:test"
# The image's user (Containerfile's USER): the key files a test mounts belong to it.
USER = int(re.search(r"^USER (\d+):", CONTAINERFILE.read_text(), re.M)[1])
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
# What the official slim images set up: apt keeps no packages or lists, dpkg skips docs and locales.
CACHES = "/var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin"
APT_CLEAN = (
    f'DPkg::Post-Invoke {{ "rm -f {CACHES} || true"; }};\n'
    f'APT::Update::Post-Invoke {{ "rm -f {CACHES} || true"; }};\n'
    'Dir::Cache::pkgcache "";\n'
    'Dir::Cache::srcpkgcache "";\n'
)
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


def slim(root: Path) -> None:
    """Set root up as the slim images are, and drop what dpkg would have skipped: docs but the
    copyright files, man pages, locales, apt's lists and caches."""
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    (root / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
    for folder in ("var/lib/apt/lists", "usr/share/man", "usr/share/info", "usr/share/locale"):
        for path in (root / folder).glob("*"):
            if path.name in ("lock", "partial", "locale.alias"):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in (root / "var/cache/apt").rglob("*"):
        if path.suffix in (".deb", ".bin"):
            path.unlink()
    for path in (root / "usr/share/doc").rglob("*"):
        if not path.is_dir() and path.name != "copyright":
            path.unlink()


def require_podman() -> str:
    """podman, run as root (the tests give key files to the image's user); skip or fail as require()."""
    podman = require_executable("podman", install="Debian: apt-get install podman runc debootstrap")
    require("root, for podman and the key files of the image's user", os.geteuid() == 0, "run as root")
    return podman


# The tests' own storage (set by store()): podman's --root and --runroot under it.
STORE: list[Path] = []


@contextlib.contextmanager
def store(folder: Path) -> Iterator[Path]:
    """Make folder the storage of every podman command of the tests; at the end, remove all it holds."""
    STORE[:] = [folder]
    try:
        yield folder
    finally:
        for remove in (
            ("pod", "rm", "--all", "--force"),
            ("rm", "--all", "--force"),
            ("rmi", "--all", "--force"),
            ("secret", "rm", "--all"),
        ):
            podman(*remove, check=False)
        STORE.clear()
        shutil.rmtree(folder, ignore_errors=True)


def podman_command(*args: str) -> tuple[list[str], dict[str, str]]:
    """podman's command line on the tests' storage, and its environment with the tests' containers.conf."""
    assert STORE, "podman runs only inside store(): the tests never use the machine's own storage"
    (folder,) = STORE
    command = ["podman", "--root", str(folder / "root"), "--runroot", str(folder / "run"), *args]
    return command, {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run podman on the tests' storage; its output as text."""
    command, env = podman_command(*args)
    return subprocess.run(
        command, env=env, capture_output=True, text=True, check=check, timeout=timeout, **kwargs
    )


def podman_shell(script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a bash script as written, in which `podman` is the tests' podman (podman_command); its
    output as text. A failing command stops the script, and fails the test with what it printed."""
    command, env = podman_command()
    prefix = f'set -e\npodman() {{ command {shlex.join(command)} "$@"; }}\n'
    run = subprocess.run(
        ["bash", "-c", prefix + script], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert run.returncode == 0, f"{script}\nexit {run.returncode}:\n{run.stdout}{run.stderr}"
    return run


def runtime() -> list[str]:
    return ["--runtime", "runc"] if shutil.which("runc") else []


def make_base() -> None:
    """debian:<suite>-slim from Debian's packages (under a minute), unless the tests' storage has it."""
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return
    debootstrap = require_executable(
        "debootstrap", "/usr/sbin/debootstrap", install="apt-get install debootstrap"
    )
    with tempfile.TemporaryDirectory(prefix="debootstrap-") as root:
        subprocess.run(
            [debootstrap, "--variant=minbase", SUITE, root], capture_output=True, check=True, timeout=900
        )
        slim(Path(root))
        with subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE) as archive:
            podman("import", "-", BASE, stdin=archive.stdout)


def build_image() -> float:
    """Build the Containerfile as IMAGE, from the repository (its .dockerignore applies); seconds taken."""
    make_base()
    started = time.monotonic()
    extra = []
    ca_bundle = os.environ.get("PIP_CERT")
    if ca_bundle and os.path.isfile(ca_bundle):
        extra = ["--build-arg", "PIP_CERT=/run/host-ca.crt", "--volume", f"{ca_bundle}:/run/host-ca.crt:ro"]
    podman(
        "build",
        *runtime(),
        "--pull=never",
        "--network=host",
        "-f",
        str(CONTAINERFILE),
        "-t",
        IMAGE,
        *extra,
        str(ROOT),
        timeout=1200,
    )
    return time.monotonic() - started


@dataclass
class Container:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        run = podman("logs", self.name, check=False)
        return run.stdout + run.stderr

    def processes(self) -> list[str]:
        """The command line of each process in the container."""
        return podman("top", self.name, "args").stdout.splitlines()[1:]

    def state(self) -> str:
        return podman(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name
        ).stdout.strip()


def answers(container: Container) -> bool:
    assert container.state().startswith("running"), container.logs()
    try:
        return fetch(container.url + "/").status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running(
    secrets: Path, env: dict[str, str] | None = None, options: tuple[str, ...] = ()
) -> Iterator[Container]:
    """The image run as Kubernetes runs it (read-only, no capabilities, no new privileges), on a free
    loopback port, the Secret folder mounted read-only and named by SECRET_KEY_FILE, with podman's
    options added; removed after."""
    container = Container(f"wsgiapp-test-{os.getpid()}-{free_port()}", free_port())
    variables = [
        f"--env={name}={value}"
        for name, value in {"SECRET_KEY_FILE": "/run/secrets/wsgiapp/keys", **(env or {})}.items()
    ]
    podman(
        "run", "--detach", "--name", container.name, *runtime(),
        "--read-only", "--read-only-tmpfs=false", "--cap-drop=ALL", "--security-opt=no-new-privileges",
        "--publish", f"127.0.0.1:{container.port}:8000",
        "--volume", f"{secrets}:/run/secrets/wsgiapp:ro", *variables, *options, IMAGE,
    )  # fmt: skip
    try:
        wait_for(lambda: answers(container), 30, container.logs)
        yield container
    finally:
        podman("rm", "--force", "--time", "0", container.name, check=False)
