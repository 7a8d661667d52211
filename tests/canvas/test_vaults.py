"""Vault path resolution (vaults.py): the one gate between a client's path and a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvasd.canvas.vaults import Vault, VaultRegistry
from canvasd.errors import CanvasPathError, InvalidPathError


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vault, Path]:
    """A vault with folders, canvases, symlinks inside and outside, and an .obsidian folder."""
    base = tmp_path_factory.mktemp("vaults")
    root = base / "vault"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".obsidian").mkdir()
    (base / "outside").mkdir()
    for file in ("x.canvas", "a/y.canvas", "a/b/z.canvas", ".obsidian/w.canvas", "note.md"):
        (root / file).write_text("{}")
    (base / "outside" / "o.canvas").write_text("{}")
    os.symlink(root / "a", root / "link-in")
    os.symlink(base / "outside", root / "link-out")
    os.symlink(root / "a" / "y.canvas", root / "alias.canvas")
    os.symlink(root / "note.md", root / "md.canvas")
    os.symlink(root / ".obsidian", root / "dot")
    return Vault("v", root), base


SEGMENTS = st.sampled_from(["a", "b", "x.canvas", "y.canvas", "z.canvas", "..", ".", "", ".obsidian", "w.canvas",
                            "link-in", "link-out", "o.canvas", "alias.canvas", "md.canvas", "dot", "new.canvas",
                            "note.md", "夏.canvas"])


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(SEGMENTS, min_size=1, max_size=5), leading_slash=st.booleans())
def test_resolve_returns_only_real_canvas_paths_inside_the_vault(tree, parts, leading_slash) -> None:
    vault, _base = tree
    relative = ("/" if leading_slash else "") + "/".join(parts)
    try:
        path, stat_result = vault.resolve_with_stat(relative)
    except (CanvasPathError, InvalidPathError):
        return
    root = os.path.realpath(vault.root)
    real = os.path.realpath(os.path.join(root, relative))
    assert str(path) == real  # the same answer a full realpath gives
    assert real.startswith(root + os.sep) and real.endswith(".canvas")
    assert Path(real).relative_to(root).parts[0] != ".obsidian"
    assert ".." not in relative.split("/") and not relative.startswith("/")
    if stat_result is not None:
        assert os.stat(real).st_ino == stat_result.st_ino


def test_refusals_say_why(tree) -> None:
    vault, _ = tree
    cases = {
        "../x.canvas": "'..' may not leave the vault",
        "link-out/o.canvas": "outside the vault",
        "md.canvas": "not a .canvas file",
        "dot/w.canvas": "under .obsidian/",
        ".obsidian/w.canvas": "nothing under .obsidian/",
        "note.md": "only .canvas files",
    }
    for relative, reason in cases.items():
        with pytest.raises(CanvasPathError, match=reason):
            vault.resolve(relative)
    for relative in ("", "/etc/x.canvas", "a\x00.canvas", "a\\b.canvas"):
        with pytest.raises(InvalidPathError):
            vault.resolve(relative)


def test_symlinks_inside_resolve_to_the_real_file(tree) -> None:
    vault, _ = tree
    root = Path(os.path.realpath(vault.root))
    assert vault.resolve("link-in/y.canvas") == root / "a" / "y.canvas"
    assert vault.resolve("alias.canvas") == root / "a" / "y.canvas"
    assert vault.resolve_with_stat("x.canvas")[1] is not None  # plain file: its stat comes along
    assert vault.resolve_with_stat("alias.canvas")[1] is None


def test_listing_skips_hidden_folders_and_outside_links(tree) -> None:
    vault, _ = tree
    listed = [relative for relative, _ in vault.canvases()]
    assert set(listed) == {"x.canvas", "alias.canvas", "a/y.canvas", "a/b/z.canvas"}


def test_registry_locates_real_paths() -> None:
    registry = VaultRegistry({"v": Path("/tmp")})
    found = registry.locate(os.path.realpath("/tmp") + "/q.canvas")
    assert found is not None and found[0].name == "v" and found[1] == "q.canvas"
    assert registry.locate("/elsewhere/q.canvas") is None
