"""Every protocol reference in the repository resolves to a section of a document in the repository.

Code, tests, configs and the README cite the protocol facts as `SPEC 6.2` / `SPEC §7` (docs/SPEC.md) and
`EARTHDIAL 3.3` (docs/EARTHDIAL.md), and the platform notes as PLATFORM.md (docs/PLATFORM.md). A reviewer must be
able to open each one, so a reference to a section that does not exist, or to a document outside the repository,
fails here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = {"SPEC": REPO / "docs" / "SPEC.md", "EARTHDIAL": REPO / "docs" / "EARTHDIAL.md"}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".sbatch", ".toml", ".txt", ".cfg", ".ini", ""}
# `SPEC 6.2`, `SPEC §7`, `SPEC.md 2.4`, and lists such as `SPEC §2.4, §5, §6.3` or `SPEC 5, 6.2`.
_NUMBER = r"§?\s*\d+(?:\.\d+)?(?![\w.]*\d)"
_REFERENCE_RE = re.compile(rf"\b(SPEC|EARTHDIAL)(?:\.md)?\s+({_NUMBER}(?:\s*,\s*{_NUMBER})*)")
_SECTION_RE = re.compile(r"^#+\s+(\d+(?:\.\d+)*)\.?(?:\s|$)")


def _sections(path: Path) -> set[str]:
    return {m.group(1) for line in path.read_text().splitlines() if (m := _SECTION_RE.match(line))}


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if Path(name).suffix in TEXT_SUFFIXES and (REPO / name).is_file()]


def references(text: str) -> list[tuple[str, str]]:
    """(document, section) pairs cited in `text`.

    >>> references("scored as SPEC §2.4, §5, §6.3 say; EARTHDIAL 3.3 too")
    [('SPEC', '2.4'), ('SPEC', '5'), ('SPEC', '6.3'), ('EARTHDIAL', '3.3')]
    """
    found = []
    for match in _REFERENCE_RE.finditer(text):
        for number in match.group(2).split(","):
            found.append((match.group(1), number.strip().lstrip("§").strip()))
    return found


@pytest.mark.parametrize(
    "text, expected",
    [
        ("SPEC 6.2", [("SPEC", "6.2")]),  # the common form
        ("(SPEC §7)", [("SPEC", "7")]),  # section sign
        ("SPEC 7.5: the box reward", [("SPEC", "7.5")]),  # a numbered defect of section 7
        ("SPEC 5, 6.2", [("SPEC", "5"), ("SPEC", "6.2")]),  # a list
        ("SPEC.md 2.4", [("SPEC", "2.4")]),  # with the file suffix
        ("the SPEC says so", []),  # no section: nothing to resolve
        ("SPEC 2.1-2.6", [("SPEC", "2.1")]),  # a range cites its first section
    ],
)
def test_reference_syntax(text, expected):
    assert references(text) == expected


def test_docs_exist_with_their_sections():
    assert {"1", "2.1", "5", "6.2", "7", "7.5", "7.12", "9"} <= _sections(DOCS["SPEC"])
    assert {"1", "3.1", "3.8", "4", "6"} <= _sections(DOCS["EARTHDIAL"])
    assert (REPO / "docs" / "PLATFORM.md").is_file()


def test_every_reference_resolves():
    sections = {name: _sections(path) for name, path in DOCS.items()}
    broken = []
    for path in _tracked_text_files():
        text = path.read_text(errors="replace")
        for document, section in references(text):
            if section not in sections[document]:
                broken.append(f"{path.relative_to(REPO)}: {document} {section}")
    assert not broken, "references to sections that do not exist:\n" + "\n".join(sorted(set(broken)))


def test_no_reference_leaves_the_repository():
    # ../shared (the project's working notes) is not shipped: a user's clone has no such folder.
    outside = re.compile(r"\.\./shared|shared/docs/|\.\./seeds")
    offenders = [
        str(path.relative_to(REPO))
        for path in _tracked_text_files()
        if path.name != Path(__file__).name and outside.search(path.read_text(errors="replace"))
    ]
    assert not offenders, f"files citing documents outside the repository: {offenders}"
