"""scripts/build_nltk_data.py: WordNet 3.0 for NLTK from Debian's files, `lexnames` rebuilt from the man page."""

import gzip
import importlib.util

import pytest

from tests.conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("build_nltk_data", REPO_ROOT / "scripts" / "build_nltk_data.py")
build_nltk_data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_nltk_data)

NAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    *[f"noun.n{i}" for i in range(26)],
    *[f"verb.v{i}" for i in range(15)],
    "adj.ppl",
]
# The table rows of lexnames(5WN): number, name (one has trailing spaces, as noun.person upstream), description.
MAN = ".TS\n" + "".join(f"{i:02d}\t{name}{'  ' if i == 18 else ''}\tnouns or verbs\n" for i, name in enumerate(NAMES))


def test_lexnames_from_man_page():
    lines = build_nltk_data.lexnames_from_man(".SH NAME\nlexnames\n" + MAN + ".TE\n").splitlines()
    assert len(lines) == 45
    # category: 1 noun, 2 verb, 3 adjective, 4 adverb
    assert lines[:3] == ["00\tadj.all\t3", "01\tadj.pert\t3", "02\tadv.all\t4"]
    assert lines[18] == "18\tnoun.n15\t1" and lines[-1] == "44\tadj.ppl\t3" and lines[30] == "30\tverb.v1\t2"


def test_lexnames_needs_45_rows():
    with pytest.raises(ValueError, match="expected 45 lexicographer files"):
        build_nltk_data.lexnames_from_man(MAN.replace("00\tadj.all", "xx\tadj.all"))


def test_build_copies_the_database_and_writes_lexnames(tmp_path):
    source = tmp_path / "wordnet"
    source.mkdir()
    for name in build_nltk_data.FILES:
        (source / name).write_text(f"contents of {name}\n")
    man = tmp_path / "lexnames.5WN.gz"
    man.write_bytes(gzip.compress(MAN.encode()))
    target = build_nltk_data.build(tmp_path / "out", source, man)
    assert target == tmp_path / "out" / "corpora" / "wordnet"
    assert (target / "index.sense").read_text() == "contents of index.sense\n"
    assert (target / "lexnames").read_text().count("\n") == 45


def test_build_names_the_missing_debian_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="run scripts/install_system_deps.sh"):
        build_nltk_data.build(tmp_path / "out", tmp_path / "nowhere", tmp_path / "nothing.gz")
