"""Build NLTK's WordNet 3.0 corpus offline from the Debian packages, for NLTK's METEOR (EARTHDIAL.md 4).

    python scripts/build_nltk_data.py --out .nltk_data     # run by `make install`

NLTK's downloader needs the network; Debian's `wordnet-base` (the WordNet 3.0 database files) and
`wordnet-sense-index` (`index.sense`) hold the same data, installed by scripts/install_system_deps.sh. NLTK's
reader also wants a `lexnames` file, which Debian ships only as the table of the lexnames(5WN) man page: it is
rebuilt from that table (45 lines `NN<TAB>name<TAB>category`). Result: `<out>/corpora/wordnet/`, found by
`common.earthdial` (the project's `.nltk_data`) or by NLTK itself through `NLTK_DATA=<out>`.

Exits 0 without doing anything when NLTK already finds a WordNet elsewhere (a cluster with NLTK data) or when the
Debian files are absent (then METEOR raises a clear error naming this script).
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import sys
from pathlib import Path

DEBIAN_DICT = Path("/usr/share/wordnet")
LEXNAMES_MAN = Path("/usr/share/man/man5/lexnames.5WN.gz")
# The database files NLTK's WordNetCorpusReader opens (index.sense comes from wordnet-sense-index).
FILES = (
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "index.sense",
    "cntlist.rev",
)
_LEXNAME_ROW = re.compile(r"^(\d\d)\t(\S+)\s*\t")
_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def lexnames_from_man(text: str) -> str:
    """The `lexnames` file from the lexnames(5WN) man page: its table rows, category from the file name's prefix."""
    lines = []
    for row in text.splitlines():
        match = _LEXNAME_ROW.match(row)
        if match:
            number, name = match.groups()
            lines.append(f"{number}\t{name}\t{_CATEGORY[name.split('.')[0]]}")
    if len(lines) != 45:
        raise ValueError(f"expected 45 lexicographer files in the lexnames table, found {len(lines)}")
    return "\n".join(lines) + "\n"


def nltk_has_wordnet() -> bool:
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        return False
    return True


def build(out: Path, source: Path = DEBIAN_DICT, man: Path = LEXNAMES_MAN) -> Path:
    target = out / "corpora" / "wordnet"
    missing = [name for name in FILES if not (source / name).is_file()]
    if missing or not man.is_file():
        raise FileNotFoundError(
            f"Debian WordNet files missing ({', '.join(missing) or man}): run scripts/install_system_deps.sh"
        )
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(source / name, target / name)
    (target / "lexnames").write_text(lexnames_from_man(gzip.decompress(man.read_bytes()).decode()), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="NLTK data folder to create (e.g. .nltk_data)")
    parser.add_argument("--force", action="store_true", help="build even when NLTK already finds a WordNet")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if (out / "corpora" / "wordnet" / "lexnames").is_file() and not args.force:
        print(f"WordNet already built in {out}")
        return 0
    if nltk_has_wordnet() and not args.force:
        print("NLTK already finds a WordNet corpus; nothing to build")
        return 0
    if not DEBIAN_DICT.is_dir():
        print(f"note: {DEBIAN_DICT} absent (Debian wordnet-base not installed): METEOR will be unavailable")
        return 0
    print(f"WordNet 3.0 built in {build(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
