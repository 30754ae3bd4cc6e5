"""The documentation: a short README, a site that builds strictly, and no folder of the machine it was written on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Absolute paths of a development machine or a temporary folder, not a user's: outputs/runs/<run>/... instead.
MACHINE_PATH = re.compile(r"(?<![\w.:/])/(?:work|home|root|Users|tmp|private/var)/[\w.-]+")


def test_the_readme_is_short_and_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make demo", "make test"]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_machine_paths(page):
    assert not MACHINE_PATH.findall(page.read_text()), MACHINE_PATH.findall(page.read_text())[:5]


def test_readme_links_to_docs_resolve():
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).is_file(), target


def test_the_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (the dev extra brings it)")
    out = subprocess.run([mkdocs, "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                         capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "serving" / "index.html").is_file()
