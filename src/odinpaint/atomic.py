"""Writing a file so that it is either whole or not there: never half-written under its name.

    >>> from odinpaint.atomic import atomic_write
    >>> atomic_write(Path("out/result.json"), lambda tmp: Path(tmp).write_text(text))

The writer fills a temporary file in the same directory; it is fsynced and renamed over the
target, and the directory is fsynced, so a crash or a full disk mid-write leaves the previous
file (or none) under the name. Checkpoints, exports, filled images and result files go through it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file (0666 less the umask); mkstemp's own is 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, then move the result into ``path`` atomically (with the
    permissions a plain write would give it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _new_file_mode())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
