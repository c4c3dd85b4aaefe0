"""Writing a file whole or not at all: the one atomic-write helper of the project.

A temp file beside the target is written and fsynced, then renamed over the target (or
hard-linked into place when an existing file must not be replaced, which leaves no
window for a race), then the directory is fsynced so the new name survives a power cut.
A crash at any point leaves the old file or the new one, never half of one; the temp
file is removed on every error that Python sees.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: Path) -> bool:
    """Make the names in `directory` durable; False where the file system refuses."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        os.fsync(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def write_atomically(
    path: Path, data: bytes, *, mode: int | None = 0o600, overwrite: bool = True
) -> os.stat_result:
    """Write `data` to `path` atomically and return the new file's stat.

    `mode` None means the usual 0666 less the umask. With `overwrite=False` an existing
    `path` raises FileExistsError and is left alone. OSError (a full disk, a file-size
    limit, a missing or read-only directory) propagates after the temp file is removed.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, (0o666 & ~_umask()) if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            st = os.fstat(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_into_place(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return st


def _link_into_place(tmp: str, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as err:  # a file system without hard links
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
