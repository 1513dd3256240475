"""Everything the repository says it relies on is in the repository: no
tracked file points at the folders beside a checkout (a clone does not have
them), and every relative link of the Markdown documents reaches a file of
the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A path into the folder that sits beside the checkout on the developers'
# machines, however it is written.
OUTSIDE = re.compile(r"\.\./shared\b|\bshared/(?:spec|checklists|STYLE|hooks)\b")
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _tracked() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def _text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:  # listed but deleted in the work tree
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def test_no_tracked_file_points_outside_the_repository():
    found = []
    for path in _tracked():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:160]}")
    assert not found, "pointers outside the repository:\n" + "\n".join(found)


def test_relative_links_in_the_documents_reach_files_of_the_repository():
    broken = []
    for path in _tracked():
        if path.suffix != ".md":
            continue
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                    continue  # a URL or an anchor in the same page
                where = (path.parent / target.split("#", 1)[0]).resolve()
                if not where.is_relative_to(ROOT) or not where.exists():
                    broken.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    assert not broken, "links that do not reach a file of the repository:\n" + "\n".join(broken)
