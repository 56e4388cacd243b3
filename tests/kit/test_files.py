"""Files are written whole: replaced in one step, or created once with the first writer winning."""

from __future__ import annotations

import stat

from eresident.kit import files


def test_create_once_keeps_the_first_content_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "keys" / "k.json"
    assert files.create_once(path, b"first") == b"first"
    assert files.create_once(path, b"second") == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["k.json"]


def test_write_atomic_replaces_with_the_given_mode(tmp_path):
    path = tmp_path / "doc"
    files.write_atomic(path, b"a", mode=0o600)
    files.write_atomic(path, b"b", mode=0o640)
    assert path.read_bytes() == b"b" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["doc"]
