"""The README is a map of the code: its layout legend names every module there is, and nothing that is not."""

from __future__ import annotations

import re

from tests.support.corpus import ROOT


def _legend() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Layout of the code"):]
    return section[section.index("```") + 3:section.index("```", section.index("```") + 3)]


def test_the_layout_legend_names_every_module_and_package() -> None:
    legend = _legend()
    named = set(re.findall(r"[A-Za-z_]\w*\.py|[a-z_]+/", legend))
    package = ROOT / "canvasd"
    missing = []
    for path in sorted(package.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        if path.name not in named:
            missing.append(str(path.relative_to(ROOT)))
    for folder in sorted(p for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        if f"{folder.name}/" not in named:
            missing.append(str(folder.relative_to(ROOT)) + "/")
    assert not missing, f"modules the README's layout legend does not name: {missing}"


def test_the_layout_legend_names_no_module_that_is_gone() -> None:
    legend = _legend()
    existing = {path.name for path in (ROOT / "canvasd").rglob("*.py")}
    existing |= {path.name for path in (ROOT / "tests").rglob("*.py")} | {p.name for p in (ROOT / "bench").glob("*.py")}
    gone = sorted(set(re.findall(r"[A-Za-z_]\w*\.py", legend)) - existing)
    assert not gone, f"the README's layout legend names modules that do not exist: {gone}"
