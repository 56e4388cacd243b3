"""Writing files so that no reader ever sees half of one: keys, secrets, stored documents."""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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


class ParsedJsonFiles:
    """JSON files read and parsed once per version: a call costs one stat() while a file is unchanged
    (a rewrite by `write_json` is a rename, so a new inode). Trust lists are read on every signed
    message and credential check; an operator's change takes effect on the next call."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int, int], Any]] = {}
        self._lock = threading.Lock()

    def read(self, path: Path, parse: Callable[[Any], T], empty: Callable[[], T]) -> T:
        """`parse(json)` of the file as it is now, `empty()` when there is none; OSError or
        ValueError (from reading, JSON or `parse`) for a file that cannot be used."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return empty()
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        value = parse(json.loads(path.read_text()))
        self._cache[path] = (stamp, value)
        return value

    def write(self, path: Path, document: Any) -> None:
        with self._lock:
            write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())
