"""The commands of the README and the docs: each block of them is run by a test, or says in its first
line what it needs that a test machine lacks; section 1 of docs/deploying.md and its fingerprint
command run here as written."""

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import APP_VARIABLES
from tests.helpers.docs import DOCS
from tests.helpers.docs import blocks
from tests.helpers.docs import commands
from tests.helpers.docs import doc_block
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import fingerprint
from tests.helpers.servers import require
from tests.helpers.servers import require_executable

# The first line of a block that no test runs, and what it needs.
NOT_RUN = "# Not run by the tests: "
# Who runs each block of commands, by its file, the heading above it and its place under that heading
# (0 for the first): a test, or .ci/run.
RUN_BY = {
    ("README.md", "Quick start", 0): "tests/test_readme.py::test_the_quick_start",
    ("README.md", "The tests", 0): ".ci/run",
    # With a free port (tests/helpers/servers.py's devserver_command), with and without --no-reload.
    ("README.md", "The development server", 0): (
        "tests/test_settings_servers.py::test_the_generated_key_survives_a_restart_and_serves_the_dev_server_too"
    ),
    ("README.md", "A session with curl", 0): "tests/test_readme.py::test_the_curl_session",
    ("README.md", "Settings", 0): "tests/test_readme.py::test_the_bad_setting_example",
    (
        "docs/deploying.md",
        "1. The app and its keys",
        0,
    ): "tests/test_docs.py::test_deploying_section_1_as_written",
    # With the tests' storage, runtime and network (tests/helpers/containers.py, build_image).
    ("docs/deploying.md", "7. Containers and Kubernetes", 0): "tests/conftest.py::image",
    ("docs/deploying.md", "7. Containers and Kubernetes", 2): (
        "tests/test_container.py::test_the_documented_container_signs_with_the_key_file_of_section_1"
    ),
    ("bench/README.md", "Running it", 0): ".ci/run",
}


def keyed_blocks() -> list[tuple[tuple[str, str, int], str]]:
    """Every block of the docs, keyed by its file, the heading above it and its place under it."""
    found = []
    for name in DOCS:
        places: dict[str, int] = {}
        for heading, text in blocks(name):
            places[heading] = places.get(heading, -1) + 1
            found.append(((name, heading, places[heading]), text))
    return found


def runner_exists(runner: str) -> bool:
    if runner == ".ci/run":
        return (ROOT / ".ci" / "run").exists()
    path, _, name = runner.partition("::")
    return re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M) is not None


def test_every_block_of_commands_is_run_by_a_test_or_says_what_it_needs():
    found = keyed_blocks()
    for key, block in found:
        runner = RUN_BY.get(key)
        assert (runner is None) == block.startswith(NOT_RUN), f"{key}: {block[:200]}"
        assert runner is None or runner_exists(runner), runner
    assert set(RUN_BY) <= {key for key, _ in found}


@pytest.mark.slow
def test_deploying_section_1_as_written(tmp_path):
    """As root, on Debian: the commands, their paths moved under a temporary folder, the repository
    cloned from this checkout; all but the package install, which .ci/run makes. The venv's python
    must be Debian's own, and --check-config must pass on the key file made as written."""
    python = Path("/usr/bin/python3")
    ensurepip = [python, "-c", "import ensurepip"]
    makes_venvs = python.exists() and subprocess.run(ensurepip, check=False).returncode == 0
    require("Debian's /usr/bin/python3 with venv", makes_venvs, "apt-get install python3-venv")
    require_executable("git", install="apt-get install git")
    require("a git checkout to clone", (ROOT / ".git").exists(), "run from a git clone")
    lines = commands(doc_block("docs/deploying.md", "1. The app and its keys"))
    assert lines[0] == "apt-get install git python3-venv"
    script = "\n".join(["set -e", *lines[1:]])
    opt, etc = tmp_path / "opt", tmp_path / "etc"
    script = (
        script.replace("<this repository>", str(ROOT)).replace("/opt/", f"{opt}/").replace("/etc/", f"{etc}/")
    )
    env = {name: value for name, value in os.environ.items() if name not in APP_VARIABLES}
    # python3 is Debian's, as on the machine the section is written for.
    env["PATH"] = f"/usr/bin{os.pathsep}{env['PATH']}"
    etc.mkdir()
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    # pip's lines, then readlink's and the check's.
    printed = run.stdout.splitlines()
    assert [line for line in printed if line.startswith("/")] == [str(python.resolve())], printed
    assert re.fullmatch(r"/usr/bin/python3\.\d+", str(python.resolve()))
    assert printed[-1] == "good"
    keys = etc / "wsgiapp" / "secret_keys"
    assert stat.S_IMODE((etc / "wsgiapp").stat().st_mode) == 0o700
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    (key,) = keys.read_text().split()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert f"wsgiapp: signing with key {fingerprint(key)}; older keys that verify: none" in run.stderr
    shutil.rmtree(opt)


def test_the_fingerprint_command_names_the_keys_as_the_log_does(tmp_path):
    text = (ROOT / "docs" / "deploying.md").read_text()
    (command,) = re.findall(r"^`(python3 -c 'import hashlib.*)`\.$", text, re.M)
    keys = tmp_path / "secret_keys"
    first, older = "first-key-of-32-characters-here!", "older-key-of-32-characters-here!"
    keys.write_text(f"{first}\n{older}\n")
    command = command.replace("/etc/wsgiapp/secret_keys", str(keys)).replace("python3", sys.executable, 1)
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    assert run.stdout == f"{fingerprint(first)} {fingerprint(older)}\n"
