"""Writing files so that no reader ever sees half of one: keys, secrets, stored documents."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed or widened it
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one step (write a temporary file, fsync, rename)."""
    tmp = _write_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_once(path: Path, data: bytes, *, mode: int = 0o600) -> bytes:
    """Create `path` with `data` unless it exists; return what `path` holds afterwards.

    The file is written whole under a temporary name and linked into place, so of two processes
    starting at once exactly one wins and the other reads the winner's complete file (a freshly
    generated key is never silently replaced by another)."""
    if not path.exists():
        tmp = _write_temp(path, data, mode)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()
