"""The real-world canvases beside the clone (`../shared/corpus/canvases`), and where the repository is."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "canvases"
CORPUS_REASON = (f"real-world corpus not found at {CORPUS} (it sits beside the clone in CI); "
                 "generated fixtures in tests/support/canvas_factory.py cover the same cases")


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.canvas")) if CORPUS.is_dir() else []


INVALID_CORPUS = {"MushroomSquad__Hive-Drill__project-board.canvas"}
