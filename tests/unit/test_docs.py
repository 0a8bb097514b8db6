"""The README and docs/ point at files that exist: moving or renaming one breaks this."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_in_the_docs_names_a_file_that_exists() -> None:
    pages = [ROOT / "README.md", ROOT / "helm" / "README.md", *(ROOT / "docs").glob("*.md")]
    broken = []
    for page in pages:
        text = page.read_text()
        if page.name == "tenants.md":  # generated: its regexes look like links
            text = re.sub(r"`[^`]*`", "", text)
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken
    assert len(pages) > 10
