"""Key files as operators and orchestrators lay them out: a file of keys, one a line, and a
Kubernetes Secret volume (Kubernetes mounts a Secret's keys as links through ..data/)."""

import os
from pathlib import Path


def key_file(path: Path, *keys: str, mode: int = 0o600) -> Path:
    """Write the keys, one a line, into path, readable by its owner only (mode), as an operator would;
    a file already there (read-only, as systemd's credentials are) is rewritten in place."""
    if path.is_file():
        path.chmod(0o600)
    path.write_text("".join(f"{key}\n" for key in keys))
    path.chmod(mode)
    return path


def kubernetes_secret(folder: Path, *keys: str, mode: int = 0o400, owner: int | None = None) -> Path:
    """A Secret volume as the kubelet mounts it in folder, which is returned (what a container
    mounts): keys -> ..data/keys, ..data -> ..<time>/, the file itself of this mode, given to owner
    (a user id) if one is named."""
    version = folder / "..2026_11_30_12_00_00.000000001"
    version.mkdir(parents=True)
    keys_path = key_file(version / "keys", *keys, mode=mode)
    if owner is not None:
        os.chown(keys_path, owner, owner)
    (folder / "..data").symlink_to(version.name)
    (folder / "keys").symlink_to("..data/keys")
    return folder
