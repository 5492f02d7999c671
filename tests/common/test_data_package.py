"""The common.data package: its format registry, its one way of naming a record, the validator saying each problem
once, and the vocabulary it re-exports."""

import importlib
import json
import logging
import pkgutil

import pytest
from PIL import Image

import common.data
import common.vocabulary
from common.data import FORMATS, READERS, DataError, Record, main, read_jsonl, read_llava
from common.data.records import where


def _conversation(question="<image>\nWhat is it?", answer="A field."):
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


@pytest.fixture
def folder(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    return tmp_path


def test_every_format_module_is_registered_and_readers_are_its_readers():
    # A format module (one with a FORMAT) missing from formats.FORMATS is a format the validator cannot reach.
    names = [info.name for info in pkgutil.iter_modules(common.data.__path__) if info.name != "__main__"]
    modules = [f"common.data.{name}" for name in names]
    with_format = {name for name in modules if hasattr(importlib.import_module(name), "FORMAT")}
    assert {spec.read.__module__ for spec in FORMATS.values()} == with_format
    assert READERS == {name: spec.read for name, spec in FORMATS.items()}
    assert len(with_format) == 7


def test_the_validator_help_describes_each_format_from_its_registration(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, spec in FORMATS.items():
        assert f"{name}: {spec.path}" in text
    assert "scorers: data_root (default: the JSON file's folder)" in text
    assert "tinyrs_grpo: split to read (default: train)" in text


@pytest.mark.parametrize(
    ("number", "record_id", "expected"),
    [
        (None, None, "f.json: bad"),
        (3, None, "f.json: record 3: bad"),
        (3, "abc", "f.json: record 3 (id 'abc'): bad"),
    ],
)
def test_one_way_to_name_a_place(number, record_id, expected):
    assert where("f.json", number, record_id, "bad") == expected


def test_records_are_numbered_from_one_with_their_own_id(folder):
    rows = [
        {"id": "a1", "image": "a.png", "conversations": _conversation()},
        {"id": "b2", "image": "missing.png", "conversations": _conversation()},
        {"image": "missing.png", "conversations": _conversation()},
    ]
    path = folder / "sft.json"
    path.write_text(json.dumps(rows))
    result = read_llava(path, folder, policy="skip")
    assert [str(problem) for problem in result.problems] == [
        f"{path}: record 2 (id 'b2'): image not found: {folder / 'missing.png'}",
        f"{path}: record 3: image not found: {folder / 'missing.png'}",
    ]
    assert [(p.index, p.number, p.record_id) for p in result.problems] == [(1, 2, "b2"), (2, 3, None)]
    with pytest.raises(DataError, match=r"^.*sft\.json: record 2 \(id 'b2'\): image not found"):
        read_llava(path, folder)


def test_jsonl_records_are_numbered_by_their_line(folder):
    good = {"id": "g", "image": "a.png", "conversations": _conversation()}
    path = folder / "t.jsonl"
    lines = [json.dumps(good), "", json.dumps({**good, "id": "x", "task": "vqa "}), "{not json"]
    path.write_text("\n".join(lines) + "\n")
    result = read_jsonl(path, folder, policy="skip", tasks=("vqa",))
    assert [r.number for r in result.records] == [1]
    assert [str(problem).split(": ")[1] for problem in result.problems] == ["record 3 (id 'x')", "record 4"]


def test_a_loader_names_a_record_it_refuses_as_the_readers_do(folder):
    path = folder / "sft.json"
    path.write_text(json.dumps([{"id": 5, "image": "a.png", "conversations": _conversation()}, {"conversations": []}]))
    record = read_llava(path, folder, policy="skip").records[0]
    assert (record.index, record.number, record.own_id) == (0, 1, "5")
    assert str(DataError.of(record, "too long")) == f"{path}: record 1 (id '5'): too long"
    assert record.describe("too long") == f"{path}: record 1 (id '5'): too long"
    unnamed = Record(id="sft-0", source="s.json", index=0, turns=[], images=[], number=1, given_id=False)
    assert str(DataError.of(unnamed, "too long")) == "s.json: record 1: too long"


def test_the_validator_says_each_problem_once(folder, capsys, caplog):
    path = folder / "sft.json"
    path.write_text(json.dumps([{"id": "b", "image": "missing.png", "conversations": _conversation()}]))
    with caplog.at_level(logging.INFO):
        assert main(["validate", "--format", "llava", str(path), "--image-folder", str(folder)]) == 1
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    assert everything.count("image not found") == 1
    assert captured.out.splitlines()[0] == f"{path}: record 1 (id 'b'): image not found: {folder / 'missing.png'}"
    # The filter is the validator's alone: a training run reading the same file still logs the skip summary.
    caplog.clear()
    read_llava(path, folder, policy="skip")
    assert f"{path}: skipped 1 of 1 records (policy skip)" in caplog.text


def test_the_vocabulary_has_one_definition_that_common_data_re_exports():
    for name in ("GEOVLM_TASKS", "SCORERS_TASKS", "LHRS_CATEGORIES", "GRPO_TASKS", "TINYRS_TASKS"):
        assert getattr(common.data, name) is getattr(common.vocabulary, name)
    assert len(common.vocabulary.LHRS_CATEGORY_NAMES) == len(common.vocabulary.LHRS_CATEGORIES) == 11
    assert common.vocabulary.LHRS_CATEGORIES[-1] == "11"
