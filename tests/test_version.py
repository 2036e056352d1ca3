"""The version, written once in setup.cfg: every other file that names it names the same one."""

import re

from tests.helpers.oracle import ROOT
from tests.helpers.oracle import VERSION


def named(path: str, pattern: str) -> list[str]:
    """What pattern's group finds in the repository's file at path, a line at a time."""
    return re.findall(pattern, (ROOT / path).read_text(), re.M)


def test_every_file_that_names_the_version_names_setup_cfgs():
    """The image's label, the manifest's image tag, the commands that build and push that image, and
    the newest release in CHANGES.md: a new version in setup.cfg fails here until each follows."""
    version = VERSION
    assert named("Containerfile", r"^ARG VERSION=(.*)$") == [version]
    assert named("deploy/kubernetes/wsgiapp.yaml", r"image: registry\.example/wsgiapp:(.*)$") == [version]
    assert named("docs/deploying.md", r"registry\.example/wsgiapp:(\S+)") == [version, version]
    assert named("CHANGES.md", r"^## (\S+) - \d{4}-\d\d-\d\d$")[0] == version
