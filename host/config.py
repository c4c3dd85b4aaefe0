"""Where punktfunk keeps its state: the config dir and the private files in it.

The config dir holds the API token, the host certificate and key, the client's pinned
host fingerprints and (mgmt's) captures dir. It is `platformdirs.user_config_path("punktfunk")`
unless `PUNKTFUNK_CONFIG_DIR` names another (services and tests use that).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from host.files import write_atomically

CONFIG_DIR_ENV = "PUNKTFUNK_CONFIG_DIR"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path("punktfunk")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing; the leaf is 0700 either way."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600: temp file, fsync, rename."""
    ensure_private_dir(path.parent)
    write_atomically(path, data, mode=0o600)
