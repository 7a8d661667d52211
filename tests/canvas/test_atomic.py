"""Atomic replacement against a program that saves in place in the instant between canvasd's check and rename."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from canvasd.canvas.atomic import TargetChangedError, exchange_files, replace_file
from canvasd.canvas.store import signature_of


def _save_in_place(path: Path, data: bytes) -> None:
    """What Obsidian does: truncate the file and write the new content into the same inode."""
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(data)


def _can_exchange(folder: Path) -> bool:
    a, b = folder / ".probe-a", folder / ".probe-b"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    try:
        return exchange_files(a, b)
    finally:
        a.unlink()
        b.unlink()


def test_a_save_in_place_after_the_check_is_swapped_back_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "a.canvas"
    target.write_bytes(b'{"nodes":[]}')
    read = signature_of(target.stat())

    def unchanged() -> bool:  # the check passes; the other program saves right after it
        _save_in_place(target, b'{"nodes":[{"id":"learner"}]}')
        return True

    if not _can_exchange(tmp_path):
        pytest.skip("this file system cannot swap two paths atomically (renameat2 RENAME_EXCHANGE)")
    with pytest.raises(TargetChangedError):
        replace_file(target, b'{"nodes":[{"id":"agent"}]}', fsync=False, unchanged=unchanged,
                     kept=lambda replaced: signature_of(replaced) == read)
    assert target.read_bytes() == b'{"nodes":[{"id":"learner"}]}'  # the learner's save, in its own file
    assert [p.name for p in tmp_path.iterdir()] == ["a.canvas"]  # no temp file left


def test_an_untouched_file_is_replaced_and_nothing_is_left_behind(tmp_path: Path) -> None:
    target = tmp_path / "a.canvas"
    target.write_bytes(b"{}")
    os.chmod(target, 0o640)
    read = signature_of(target.stat())
    st = replace_file(target, b'{"nodes":[]}', fsync=True, kept=lambda replaced: signature_of(replaced) == read)
    assert target.read_bytes() == b'{"nodes":[]}' and signature_of(target.stat()) == signature_of(st)
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.canvas"]


def test_exchange_swaps_two_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    if not exchange_files(a, b):
        pytest.skip("this file system cannot swap two paths atomically")
    assert (a.read_text(), b.read_text()) == ("B", "A")
