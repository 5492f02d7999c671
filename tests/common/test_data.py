"""common.data: readers for SPEC 2.1-2.6, their validation messages, policies, load_image and the validate CLI.

Every fixture is built here in tmp_path (tiny images, a few records); one test runs the validator over the shared
synthetic datasets.
"""

import functools
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common import data
from common.data import DataError, Problem, Record, Turn, image_checks, images, load_image
from common.prompts import REASONING_SYSTEM, SAMCHAT_GRPO_SUFFIX, SAMCHAT_GRPO_SYSTEM, SAMDATA_PROMPT
from tests import faults

REPO_ROOT = Path(__file__).resolve().parents[2]


def _image(path: Path, color=(10, 20, 30), size=(8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def _conv(*pairs):
    """LLaVA turns from (from, value) pairs."""
    return [{"from": role, "value": value} for role, value in pairs]


# ---------------------------------------------------------------------------------------------------------------
# LLaVA (SPEC 2.1)


@pytest.fixture
def llava_dir(tmp_path):
    images = tmp_path / "images"
    _image(images / "a.jpg")
    _image(images / "sub" / "b.png", color=(1, 2, 3))
    (images / "clip.mp4").write_bytes(b"not decoded: videos are only checked for existence")
    (images / "broken.jpg").write_bytes(b"this is not a JPEG")
    _image(tmp_path / "outside.jpg")
    return tmp_path


GOOD_LLAVA = [
    {"id": 7, "image": "a.jpg", "conversations": _conv(("human", "<image>\nDescribe."), ("gpt", "A field."))},
    {
        "id": "two",
        "image": ["a.jpg", "sub/b.png"],
        "conversations": _conv(
            ("human", "<image>\n<image>\nCompare."), ("gpt", "Same."), ("human", "Sure?"), ("gpt", "Yes.")
        ),
        "source_dataset": "vhm",
    },
    {"conversations": _conv(("human", "What is NDVI?"), ("gpt", "A vegetation index."))},
    {
        "image": "a.jpg",
        "conversations": _conv(("system", "Be brief."), ("user", "<image>Count."), ("assistant", "3")),
    },
    {"video": "clip.mp4", "conversations": _conv(("human", "<video>\nWhat happens?"), ("gpt", "Cars move."))},
    {"image": "https://example.com/remote.jpg", "conversations": _conv(("human", "<image>Where?"), ("gpt", "Here."))},
]


def test_read_llava_good_records(llava_dir):
    path = _write_json(llava_dir / "sft.json", GOOD_LLAVA)
    result = data.read_llava(path, llava_dir / "images")
    assert (result.total, result.skipped, len(result.records)) == (6, 0, 6)
    first, multi, text, system, video, remote = result.records
    images = (llava_dir / "images").resolve()
    assert first == Record(
        id="7",
        source=str(path),
        index=0,
        turns=[Turn("user", "<image>\nDescribe."), Turn("assistant", "A field.")],
        images=[str(images / "a.jpg")],
    )
    assert multi.images == [str(images / "a.jpg"), str(images / "sub" / "b.png")]
    assert [t.role for t in multi.turns] == ["user", "assistant", "user", "assistant"]
    assert multi.extra == {"source_dataset": "vhm"}
    assert (text.id, text.images, text.videos) == ("sft-2", [], [])
    assert [t.role for t in system.turns] == ["system", "user", "assistant"]
    assert video.videos == [str(images / "clip.mp4")] and video.images == []
    assert remote.images == ["https://example.com/remote.jpg"]  # URLs are kept, never fetched while reading
    assert all(r.solution is None and r.task is None for r in result.records)


def test_read_llava_path_used_as_given_when_it_exists(llava_dir, monkeypatch):
    # SPEC 2.1: absolute paths, and relative paths that exist from the working directory, win over the folder.
    monkeypatch.chdir(llava_dir)
    rows = [
        {"image": str(llava_dir / "outside.jpg"), "conversations": _conv(("human", "<image>a"), ("gpt", "b"))},
        {"image": "outside.jpg", "conversations": _conv(("human", "<image>a"), ("gpt", "b"))},
    ]
    result = data.read_llava(_write_json(llava_dir / "sft.json", rows), llava_dir / "images")
    assert [r.images for r in result.records] == [[str(llava_dir / "outside.jpg")]] * 2


# (case id, record, expected message substring); each record sits at index 1 after one good record.
BAD_LLAVA = [
    ("not-object", ["a"], "expected an object, got array"),
    ("no-conversations", {"image": "a.jpg"}, "missing 'conversations'"),
    ("conversations-type", {"conversations": "hi"}, "'conversations' must be an array, got string"),
    ("conversations-empty", {"conversations": []}, "'conversations' is empty"),
    ("turn-type", {"conversations": ["hi", {"from": "gpt", "value": "x"}]}, "turn 0: expected an object, got string"),
    ("unknown-role", {"conversations": _conv(("bot", "hi"), ("gpt", "x"))}, "turn 0: unknown role 'bot'"),
    (
        "value-type",
        {"conversations": [{"from": "human", "value": 3}, {"from": "gpt", "value": "x"}]},
        "turn 0: 'value' must be a string, got number",
    ),
    ("empty-turn", {"conversations": _conv(("human", "q"), ("gpt", "  "))}, "turn 1: empty assistant text"),
    (
        "starts-with-gpt",
        {"conversations": _conv(("gpt", "x"), ("human", "q"))},
        "turn 0: expected a user turn, got 'gpt'",
    ),
    (
        "not-alternating",
        {"conversations": _conv(("human", "q"), ("human", "q"), ("gpt", "x"))},
        "turn 1: expected an assistant turn, got 'human'",
    ),
    (
        "late-system",
        {"conversations": _conv(("human", "q"), ("system", "s"), ("gpt", "x"))},
        "turn 1: expected an assistant turn, got 'system'",
    ),
    (
        "ends-with-user",
        {"conversations": _conv(("human", "q"), ("gpt", "x"), ("human", "q2"))},
        "conversation ends with a user turn",
    ),
    ("only-system", {"conversations": _conv(("system", "s"))}, "no user turn"),
    (
        "image-type",
        {"image": 3, "conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
        "'image' must be a non-empty string or an array of them, got number",
    ),
    (
        "image-null",
        {"image": None, "conversations": _conv(("human", "q"), ("gpt", "x"))},
        "'image' must be a non-empty string or an array of them, got null",
    ),
    (
        "image-empty-list",
        {"image": [], "conversations": _conv(("human", "q"), ("gpt", "x"))},
        "'image' is an empty array",
    ),
    (
        "both-media",
        {"image": "a.jpg", "video": "clip.mp4", "conversations": _conv(("human", "<image><video>q"), ("gpt", "x"))},
        "has both 'image' and 'video'",
    ),
    # One image and no placeholder is an error, not repaired (module docstring).
    (
        "one-image-no-placeholder",
        {"image": "a.jpg", "conversations": _conv(("human", "q"), ("gpt", "x"))},
        "1 image(s) but 0 <image> placeholder(s)",
    ),
    (
        "too-few-placeholders",
        {"image": ["a.jpg", "a.jpg"], "conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
        "2 image(s) but 1 <image> placeholder(s)",
    ),
    (
        "placeholder-no-image",
        {"conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
        "0 image(s) but 1 <image> placeholder(s)",
    ),
    (
        "video-placeholders",
        {"video": "clip.mp4", "conversations": _conv(("human", "q"), ("gpt", "x"))},
        "1 video(s) but 0 <video> placeholder(s)",
    ),
    (
        "placeholder-in-reply",
        {"image": "a.jpg", "conversations": _conv(("human", "q"), ("gpt", "<image>"))},
        "turn 1: <image> placeholder outside a user turn (assistant)",
    ),
    (
        "missing-image",
        {"image": "nope.jpg", "conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
        "image not found: ",
    ),
    (
        "unreadable-image",
        {"image": "broken.jpg", "conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
        "image unreadable: ",
    ),
    (
        "escapes-folder",
        {"image": "../outside.jpg", "conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
        "path '../outside.jpg' escapes image folder",
    ),
    (
        "missing-video",
        {"video": "nope.mp4", "conversations": _conv(("human", "<video>q"), ("gpt", "x"))},
        "video not found: ",
    ),
]


@pytest.mark.parametrize(("record", "expected"), [case[1:] for case in BAD_LLAVA], ids=[c[0] for c in BAD_LLAVA])
def test_read_llava_bad_record(llava_dir, record, expected):
    path = _write_json(llava_dir / "sft.json", [GOOD_LLAVA[0], record])
    result = data.read_llava(path, llava_dir / "images", policy="skip")
    assert [r.index for r in result.records] == [0]
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.file, problem.index) == (str(path), 1)
    assert expected in problem.message


def test_read_llava_collects_every_problem_of_a_record_on_one_line(llava_dir):
    record = {"image": ["nope.jpg", 5], "conversations": _conv(("human", "q"), ("gpt", "x"))}
    result = data.read_llava(_write_json(llava_dir / "sft.json", [record]), llava_dir / "images", policy="skip")
    assert result.problems[0].message == "'image' must be a non-empty string or an array of them, got array"
    record = {"image": "nope.jpg", "conversations": _conv(("human", "q"), ("gpt", "x"))}
    result = data.read_llava(_write_json(llava_dir / "sft.json", [record]), llava_dir / "images", policy="skip")
    assert result.problems[0].message == (
        f"1 image(s) but 0 <image> placeholder(s); image not found: {(llava_dir / 'images' / 'nope.jpg').resolve()}"
    )


def test_read_llava_without_image_checks_still_resolves_and_contains(llava_dir):
    rows = [
        {"image": "nope.jpg", "conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
        {"image": "../outside.jpg", "conversations": _conv(("human", "<image>q"), ("gpt", "x"))},
    ]
    path = _write_json(llava_dir / "sft.json", rows)
    result = data.read_llava(path, llava_dir / "images", policy="skip", check_images=False)
    assert result.records[0].images == [str((llava_dir / "images" / "nope.jpg").resolve())]
    assert [(p.index, "escapes image folder" in p.message) for p in result.problems] == [(1, True)]


def test_relative_image_without_folder_is_reported(llava_dir, monkeypatch):
    monkeypatch.chdir(llava_dir)
    rows = [{"image": "a.jpg", "conversations": _conv(("human", "<image>q"), ("gpt", "x"))}]
    result = data.read_llava(_write_json(llava_dir / "sft.json", rows), policy="skip")
    assert result.problems[0].message == "image not found: 'a.jpg' (relative path, no image folder)"


# (case id, file bytes, expected message): problems of the whole file, index None.
BAD_FILES = [
    ("not-utf8", b'[{"id": "caf\xe9"}]', "not valid UTF-8 (line 1, byte offset 12)"),
    ("not-utf8-line-3", b'[\n{"id": 1},\n{"id": "\xff"}]', "not valid UTF-8 (line 3, byte offset 21)"),
    ("invalid-json", b'[\n{"id": 1},\n{"id" 2}]', "invalid JSON: Expecting ':' delimiter (line 3, column 7)"),
    ("top-level-object", b'{"id": 1}', "expected a JSON array of records at the top level, got object"),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
@pytest.mark.parametrize("policy", ["error", "skip"])
def test_file_level_problems_raise_under_any_policy(tmp_path, content, expected, policy):
    path = tmp_path / "sft.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        data.read_llava(path, tmp_path, policy=policy)
    assert (caught.value.file, caught.value.index, caught.value.message) == (str(path), None, expected)
    assert str(caught.value) == f"{path}: {expected}"


def test_utf8_byte_order_mark_is_accepted(llava_dir):
    path = llava_dir / "sft.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD_LLAVA[:1]).encode())
    assert len(data.read_llava(path, llava_dir / "images").records) == 1


def test_policy_error_raises_at_first_bad_record_with_file_and_index(llava_dir):
    bad = {"conversations": []}
    path = _write_json(llava_dir / "sft.json", [GOOD_LLAVA[0], GOOD_LLAVA[2], bad, bad])
    with pytest.raises(DataError) as caught:
        data.read_llava(path, llava_dir / "images")
    assert str(caught.value) == f"{path}: record 3: 'conversations' is empty"
    assert (caught.value.file, caught.value.index) == (str(path), 2)


def test_policy_skip_returns_good_records_and_counts(llava_dir, caplog):
    bad = {"conversations": []}
    path = _write_json(llava_dir / "sft.json", [bad, GOOD_LLAVA[0], bad, GOOD_LLAVA[2]])
    result = data.read_llava(path, llava_dir / "images", policy="skip")
    assert [r.index for r in result.records] == [1, 3]
    assert result.problems == [
        Problem(str(path), 0, "'conversations' is empty"),
        Problem(str(path), 2, "'conversations' is empty"),
    ]
    assert (result.total, result.skipped, result.summary()) == (4, 2, "4 records: 2 ok, 2 bad")
    assert "skipped 2 of 4 records (policy skip)" in caplog.text


def test_unknown_policy_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="policy must be one of"):
        data.read_llava(_write_json(tmp_path / "x.json", []), policy="ignore")


def test_problem_and_error_formats():
    assert str(Problem("f.json", 3, "bad")) == "f.json: record 3: bad"
    assert str(Problem("f.json", None, "bad")) == "f.json: bad"
    assert str(DataError("f.json", 0, "bad")) == "f.json: record 0: bad"
    assert isinstance(DataError("f", None, "m"), ValueError)


# ---------------------------------------------------------------------------------------------------------------
# VLM-R1 JSONL (SPEC 2.4)


def test_read_jsonl(llava_dir):
    lines = [
        {
            "id": "r1",
            "image": "a.jpg",
            "conversations": _conv(("human", "<image>Find the car."), ("gpt", "[1, 2, 3, 4]")),
            "task": "rec",
            "accu_reward_method": "iou",
        },
        "   ",  # whitespace-only: skipped silently, not a record
        {"image": "a.jpg", "conversations": _conv(("human", "<image>Class?"), ("gpt", "forest"))},
        '{"id" "broken"}',
        ["not", "an", "object"],
        {"image": "a.jpg", "conversations": _conv(("human", "<image>q"), ("gpt", "x")), "task": 3},
    ]
    path = _write_jsonl(llava_dir / "tasks.jsonl", lines)
    result = data.read_jsonl(path, llava_dir / "images", policy="skip")
    assert result.total == 5
    first, second = result.records
    assert (first.index, first.id, first.task, first.solution) == (1, "r1", "rec", "[1, 2, 3, 4]")
    assert first.turns == [Turn("user", "<image>Find the car.")]
    assert first.extra == {"task": "rec", "accu_reward_method": "iou"}
    assert (second.index, second.task, second.solution) == (3, None, "forest")
    assert [(p.index, p.message) for p in result.problems] == [
        (4, "invalid JSON: Expecting ':' delimiter (column 7)"),
        (5, "expected a JSON object, got array"),
        (6, "'task' must be a string, got number"),
    ]


def test_read_jsonl_not_utf8(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(DataError, match=r"t\.jsonl: not valid UTF-8 \(line 2, byte offset 16\)"):
        data.read_jsonl(path)


@pytest.mark.parametrize("reader", [data.read_llava, data.read_jsonl], ids=["llava", "jsonl"])
def test_missing_image_folder_is_a_file_level_problem(tmp_path, reader):
    path = tmp_path / "d.json"
    path.write_text("[]" if reader is data.read_llava else "")
    with pytest.raises(DataError, match=r"d\.json: image folder does not exist: .*nowhere$"):
        reader(path, tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------------------------
# SAMChat imagefolder (SPEC 2.2)


def _imagefolder(root: Path, rows) -> Path:
    _image(root / "pos.png", color=(200, 0, 0))
    _image(root / "neg.png", color=(0, 200, 0))
    _write_jsonl(root / "metadata.jsonl", rows)
    return root


GOOD_IMAGEFOLDER = [
    {"file_name": "pos.png", "question": "Is there a missile site?", "solution": "1"},
    {"file_name": "neg.png", "question": "Describe the scene.", "solution": "0"},
]


def test_read_imagefolder(tmp_path):
    root = _imagefolder(tmp_path / "grpo", GOOD_IMAGEFOLDER)
    result = data.read_imagefolder(root)
    assert [(r.index, r.id, r.solution, r.task) for r in result.records] == [
        (1, "pos.png", "1", "samchat"),
        (2, "neg.png", "0", "samchat"),
    ]
    first = result.records[0]
    assert first.source == str(root / "metadata.jsonl")
    assert first.images == [str((root / "pos.png").resolve())]
    assert first.turns == [
        Turn("system", SAMCHAT_GRPO_SYSTEM),
        Turn("user", "<image>Is there a missile site?" + SAMCHAT_GRPO_SUFFIX),
    ]
    assert first.extra == {"question": "Is there a missile site?", "file_name": "pos.png"}


def test_imagefolder_loads_with_datasets(tmp_path):
    import datasets

    root = _imagefolder(tmp_path / "grpo", GOOD_IMAGEFOLDER)
    dataset = datasets.load_dataset("imagefolder", data_dir=str(root), split="train", cache_dir=str(tmp_path / "cache"))
    assert sorted(dataset.column_names) == ["image", "question", "solution"]
    assert sorted(dataset["solution"]) == ["0", "1"]
    assert dataset[0]["image"].size == (8, 8)


BAD_IMAGEFOLDER = [
    (
        "solution-2",
        {"file_name": "pos.png", "question": "q", "solution": "2"},
        '\'solution\' must be the string "0" or "1", got "2"',
    ),
    ("solution-int", {"file_name": "pos.png", "question": "q", "solution": 1}, "got 1"),
    ("no-question", {"file_name": "pos.png", "solution": "1"}, "'question' must be a non-empty string, got null"),
    ("no-file-name", {"question": "q", "solution": "1"}, "'file_name' must be a non-empty string, got null"),
    ("missing-file", {"file_name": "gone.png", "question": "q", "solution": "1"}, "image not found: "),
    (
        "escapes",
        {"file_name": "../pos.png", "question": "q", "solution": "1"},
        "file_name '../pos.png' escapes image folder",
    ),
    (
        "absolute",
        {"file_name": "/etc/hosts", "question": "q", "solution": "1"},
        "file_name '/etc/hosts' escapes image folder",
    ),
    ("bad-json", '{"file_name": ', "invalid JSON"),
]


@pytest.mark.parametrize(("row", "expected"), [c[1:] for c in BAD_IMAGEFOLDER], ids=[c[0] for c in BAD_IMAGEFOLDER])
def test_read_imagefolder_bad_row(tmp_path, row, expected):
    root = _imagefolder(tmp_path / "grpo", [GOOD_IMAGEFOLDER[0], row])
    result = data.read_imagefolder(root, policy="skip")
    assert len(result.records) == 1
    assert [(p.file, p.index) for p in result.problems] == [(str(root / "metadata.jsonl"), 2)]
    assert expected in result.problems[0].message


def test_read_imagefolder_without_metadata(tmp_path):
    with pytest.raises(DataError, match="no metadata.jsonl in this folder"):
        data.read_imagefolder(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# TinyRS GRPO DatasetDict (SPEC 2.3)


def _tinyrs_prompt(question, n_images=1):
    user = [{"type": "image", "text": None}] * n_images + [{"type": "text", "text": question}]
    return [
        {"role": "system", "content": [{"type": "text", "text": REASONING_SYSTEM}]},
        {"role": "user", "content": user},
    ]


def _tinyrs_row(
    answer_type, answer, question="What is this?", *, image=True, solution=None, n_images=1, extra_turn=None
):
    prompt = _tinyrs_prompt(question, n_images) + ([extra_turn] if extra_turn else [])
    return {
        "prompt": prompt,
        "image": Image.new("RGB", (8, 8), (5, 6, 7)) if image else None,
        "solution": solution if solution is not None else [answer_type, answer, question, "aGVsbG8="],
        "question": question,
    }


def _save_tinyrs(path: Path, rows, *, split="train", drop=()):
    import datasets

    features = datasets.Features(
        {
            "prompt": [
                {
                    "role": datasets.Value("string"),
                    "content": [{"type": datasets.Value("string"), "text": datasets.Value("string")}],
                }
            ],
            "image": datasets.Image(),
            "solution": [datasets.Value("string")],
            "question": datasets.Value("string"),
        }
    )
    columns = {key: [row[key] for row in rows] for key in features}
    dataset = datasets.Dataset.from_dict(columns, features=features).remove_columns(list(drop))
    datasets.DatasetDict({split: dataset}).save_to_disk(str(path))
    return path


def test_read_tinyrs_grpo(tmp_path):
    rows = [_tinyrs_row("0", "A harbour with ships."), _tinyrs_row("1", "forest"), _tinyrs_row("2", "[10, 20, 30, 40]")]
    result = data.read_tinyrs_grpo(_save_tinyrs(tmp_path / "grpo", rows))
    assert [(r.index, r.id, r.task, r.solution) for r in result.records] == [
        (0, "train-0", "open_ended", "A harbour with ships."),
        (1, "train-1", "short_answer", "forest"),
        (2, "train-2", "bbox", "[10, 20, 30, 40]"),
    ]
    record = result.records[0]
    assert record.turns == [Turn("system", REASONING_SYSTEM), Turn("user", "<image>What is this?")]
    assert record.extra == {"question": "What is this?", "answer_type": "0"}
    assert isinstance(record.images[0], Image.Image)
    assert load_image(record.images[0]).getpixel((0, 0)) == (5, 6, 7)


def test_read_tinyrs_question_falls_back_to_solution(tmp_path):
    path = _save_tinyrs(tmp_path / "grpo", [_tinyrs_row("1", "yes", "Is it wet?")], drop=("question",))
    assert data.read_tinyrs_grpo(path).records[0].extra["question"] == "Is it wet?"


BAD_TINYRS = [
    ("answer-type-3", _tinyrs_row("3", "x"), 'answer_type must be "0", "1" or "2", got \'3\''),
    (
        "box-three-numbers",
        _tinyrs_row("2", "[1, 2, 3]"),
        "answer_type \"2\" needs a box of four numbers, got '[1, 2, 3]'",
    ),
    # x2 < x1: the IoU reward would be 0 whatever the model answers
    ("box-inverted", _tinyrs_row("2", "[30, 20, 10, 40]"), "box '[30, 20, 10, 40]' is inverted or empty"),
    ("box-empty", _tinyrs_row("2", "[10, 20, 10, 40]"), "is inverted or empty (x2 <= x1 or y2 <= y1)"),  # zero width
    ("solution-short", _tinyrs_row("1", "x", solution=["1", "x", "q"]), "got array of length 3"),
    (
        "solution-null-item",
        _tinyrs_row("1", "x", solution=["1", None, "q", "b64"]),
        "solution[1] must be a string, got null",
    ),
    ("no-image", _tinyrs_row("1", "x", image=False), "image missing"),
    ("no-image-part", _tinyrs_row("1", "x", n_images=0), "1 image(s) but 0 <image> placeholder(s)"),
    (
        "ends-with-reply",
        _tinyrs_row("1", "x", extra_turn={"role": "assistant", "content": [{"type": "text", "text": "a"}]}),
        "prompt ends with an assistant turn",
    ),
    (
        "unknown-role",
        _tinyrs_row("1", "x", extra_turn={"role": "tool", "content": [{"type": "text", "text": "a"}]}),
        "prompt message 2: unknown role 'tool'",
    ),
    (
        "bad-part",
        _tinyrs_row("1", "x", extra_turn={"role": "user", "content": [{"type": "audio", "text": None}]}),
        "prompt message 2: bad content part",
    ),
]


@pytest.mark.parametrize(("row", "expected"), [c[1:] for c in BAD_TINYRS], ids=[c[0] for c in BAD_TINYRS])
def test_read_tinyrs_bad_row(tmp_path, row, expected):
    path = _save_tinyrs(tmp_path / "grpo", [_tinyrs_row("1", "ok"), row])
    result = data.read_tinyrs_grpo(path, policy="skip")
    assert [r.index for r in result.records] == [0]
    assert [(p.file, p.index) for p in result.problems] == [(str(path), 1)]
    assert expected in result.problems[0].message


def test_read_tinyrs_file_level_problems(tmp_path):
    path = _save_tinyrs(tmp_path / "grpo", [_tinyrs_row("1", "ok")], split="test")
    with pytest.raises(DataError, match=r"no split 'train' \(splits: test\)"):
        data.read_tinyrs_grpo(path)
    path = _save_tinyrs(tmp_path / "grpo2", [_tinyrs_row("1", "ok")], drop=("solution",))
    with pytest.raises(DataError, match=r"missing column\(s\) \['solution'\]"):
        data.read_tinyrs_grpo(path)
    # A name that is not a folder is a Hub id; offline it cannot load, and says so with the id.
    with pytest.raises(DataError, match=r"^no-such-owner/no-such-dataset: cannot load dataset"):
        data.read_tinyrs_grpo("no-such-owner/no-such-dataset")


# ---------------------------------------------------------------------------------------------------------------
# ScoreRS suite (SPEC 2.6)


def test_scorers_tasks_table_matches_spec():
    assert list(data.SCORERS_TASKS) == [
        "cls_aid", "cls_METER_ML", "cls_NWPU_RESISC45", "cls_SIRI", "cls_WHU_RS19", "vqa_HR-comp", "vqa_HR-pre",
        "vqa_LR-comp", "vqa_LR-pre", "vqa_LR-rural", "rs_vg", "lhrs_bench",
    ]  # fmt: skip
    assert data.SCORERS_TASKS["cls_SIRI"] == ("cls_SIRI_WHU.json", "cls")
    assert data.SCORERS_TASKS["vqa_LR-rural"] == ("RSVQA_LR-rural_urban_RSVQA.json", "vqa")
    assert data.SCORERS_TASKS["rs_vg"] == ("VG_DOIR_RSVG_test.json", "bbox")
    assert data.SCORERS_TASKS["lhrs_bench"] == ("LHRS-Bench.json", "mcq")


def _qa(question, answer):
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def test_read_scorers(tmp_path):
    root = tmp_path / "scorers"
    _image(root / "cls_AID" / "airport_1.jpg")
    _image(root / "shared" / "vg_1.png")
    _image(tmp_path / "elsewhere" / "vg_2.png")
    cls = _write_json(
        root / "cls_AID.json", [{"image": "airport_1.jpg", "conversations": _qa("<image>\nClass?", "Airport")}]
    )
    vg_rows = [
        {
            "image": "vg_1.png",
            "image_path": "shared",
            "size": [800, 800],
            "conversations": _qa("the plane", "[1, 2, 3, 4]"),
        },
        {
            "image": "vg_2.png",
            "image_path": str(tmp_path / "elsewhere"),
            "conversations": _qa("the car", "[5, 6, 7, 8]"),
        },
    ]
    vg = _write_json(root / "VG_DOIR_RSVG_test.json", vg_rows)
    lhrs = _write_json(
        root / "LHRS-Bench.json",
        [{"image": "x.png", "image_path": "shared", "conversations": _qa("q", "A"), "type": ["1", "11"]}],
    )
    _image(root / "shared" / "x.png")
    custom = _write_json(root / "my_task.json", [{"image": "c.png", "conversations": _qa("q", "a")}])
    _image(root / "my_task" / "c.png")

    record = data.read_scorers(cls, root).records[0]
    assert (record.task, record.solution, record.turns, record.id) == (
        "cls_aid",
        "Airport",
        [Turn("user", "<image>\nClass?")],
        "cls_AID-0",
    )
    assert record.images == [str(root.resolve() / "cls_AID" / "airport_1.jpg")]
    first, second = data.read_scorers(vg, root).records
    assert (first.task, first.images, first.extra) == (
        "rs_vg",
        [str(root.resolve() / "shared" / "vg_1.png")],
        {"image_path": "shared", "size": [800, 800]},
    )
    assert second.images == [str(tmp_path.resolve() / "elsewhere" / "vg_2.png")]
    assert data.read_scorers(lhrs, root).records[0].extra["type"] == ["1", "11"]
    assert data.read_scorers(custom, root).records[0].task == "my_task"


BAD_SCORERS = [
    ("size-zero", {"size": [0, 5]}, "'size' must be [width, height] of positive numbers, got [0, 5]"),
    ("size-three", {"size": [1, 2, 3]}, "got [1, 2, 3]"),
    ("size-string", {"size": "800x800"}, 'got "800x800"'),
    ("size-bool", {"size": [True, 5]}, "got [true, 5]"),
    ("type-12", {"type": ["12"]}, '\'type\' must be a non-empty array of strings "1".."11", got ["12"]'),
    ("type-int", {"type": [1]}, "got [1]"),
    ("type-empty", {"type": []}, "got []"),
    ("missing-image", {"image": "gone.jpg"}, "image not found: "),
    ("absolute-image", {"image": "/etc/hosts"}, "'image' must be a file name relative to its image folder"),
    ("escapes", {"image": "../LHRS-Bench.json"}, "escapes image folder"),
    ("one-turn", {"conversations": [{"value": "q"}]}, "'conversations' must be an array of [question, answer] objects"),
    (
        "value-type",
        {"conversations": [{"value": "q"}, {"value": 3}]},
        "conversations[1] must be an object with a string 'value'",
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in BAD_SCORERS], ids=[c[0] for c in BAD_SCORERS])
def test_read_scorers_bad_record(tmp_path, change, expected):
    _image(tmp_path / "LHRS-Bench" / "a.jpg")
    good = {"image": "a.jpg", "conversations": _qa("q", "A"), "type": ["3"], "size": [8, 8]}
    path = _write_json(tmp_path / "LHRS-Bench.json", [good, {**good, **change}])
    result = data.read_scorers(path, tmp_path, policy="skip")
    assert [r.index for r in result.records] == [0]
    assert [(p.file, p.index) for p in result.problems] == [(str(path), 1)]
    assert expected in result.problems[0].message


# ---------------------------------------------------------------------------------------------------------------
# SAMData test folder (SPEC 2.5)


def test_read_samdata_test(tmp_path):
    for name in ["2_civil.png", "0_easy.jpg", "1_hard.JPEG", "10.Png"]:
        _image(tmp_path / name)
    (tmp_path / "README.txt").write_text("not a sample")
    _image(tmp_path / "3_other.jpg")
    _image(tmp_path / "x_0.jpg")
    (tmp_path / "0_dir.jpg").mkdir()
    result = data.read_samdata_test(tmp_path)
    assert [(r.index, r.id, r.solution) for r in result.records] == [
        (0, "0_easy.jpg", "0"),
        (1, "10.Png", "1"),
        (2, "1_hard.JPEG", "1"),
        (3, "2_civil.png", "2"),
    ]
    assert result.ignored == ["0_dir.jpg", "3_other.jpg", "README.txt", "x_0.jpg"]
    assert result.summary() == "4 records: 4 ok, 0 bad, 4 ignored"
    record = result.records[0]
    assert (record.task, record.turns, record.images) == (
        "samdata",
        [Turn("user", "<image>" + SAMDATA_PROMPT)],
        [str(tmp_path.resolve() / "0_easy.jpg")],
    )


def test_read_samdata_unreadable_image(tmp_path):
    _image(tmp_path / "0_a.jpg")
    (tmp_path / "1_b.jpg").write_bytes(b"garbage")
    result = data.read_samdata_test(tmp_path, policy="skip")
    assert [r.id for r in result.records] == ["0_a.jpg"]
    assert [(p.index, p.message.startswith("image unreadable: ")) for p in result.problems] == [(1, True)]
    with pytest.raises(DataError, match=r"record 2 \(id '1_b\.jpg'\): image unreadable"):
        data.read_samdata_test(tmp_path)


def test_readers_registry():
    assert data.READERS == {
        "llava": data.read_llava,
        "imagefolder": data.read_imagefolder,
        "tinyrs_grpo": data.read_tinyrs_grpo,
        "jsonl": data.read_jsonl,
        "scorers": data.read_scorers,
        "samdata_test": data.read_samdata_test,
        "earthdial": data.read_earthdial,
    }


# ---------------------------------------------------------------------------------------------------------------
# load_image

RAMP = np.arange(100, dtype=np.float64).reshape(10, 10)  # percentiles 2 / 98 at 1.98 / 97.02


def _expected_stretch(values: np.ndarray) -> np.ndarray:
    low, high = np.percentile(values, (2, 98))
    return np.rint(np.clip((values - low) * 255 / (high - low), 0, 255)).astype(np.uint8)


def _pil(mode, value, size=(4, 4)):
    return Image.new(mode, size, value)


def _p_transparent():
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 250, 120, 10] + [0] * 762)
    img.info["transparency"] = 1
    return img


# (case id, source builder, expected pixel (0, 0)); sizes are 4x4 unless built from RAMP.
PIL_CASES = [
    ("rgb", lambda: _pil("RGB", (10, 20, 30)), (10, 20, 30)),
    ("rgba-half", lambda: _pil("RGBA", (200, 100, 50, 128)), (100, 50, 25)),  # composited on black
    ("rgba-transparent", lambda: _pil("RGBA", (200, 100, 50, 0)), (0, 0, 0)),
    ("la", lambda: _pil("LA", (200, 255)), (200, 200, 200)),
    ("l", lambda: _pil("L", 77), (77, 77, 77)),
    ("1", lambda: _pil("1", 1), (255, 255, 255)),
    ("p", lambda: _pil("P", 0).convert("RGB").quantize(colors=2), (0, 0, 0)),
    ("p-transparency", _p_transparent, (0, 0, 0)),
    ("cmyk-white", lambda: _pil("CMYK", (0, 0, 0, 0)), (255, 255, 255)),
    ("i16-constant", lambda: _pil("I;16", 3000), (0, 0, 0)),  # flat: black
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in PIL_CASES], ids=[c[0] for c in PIL_CASES])
def test_load_image_modes(build, expected):
    img = load_image(build())
    assert (img.mode, img.size, img.getpixel((0, 0))) == ("RGB", (4, 4), expected)


@pytest.mark.parametrize(
    ("mode", "dtype", "scale"),
    [("I;16", np.uint16, 40), ("I", np.int32, -1000), ("F", np.float32, 0.001)],
    ids=["uint16", "int32", "float32"],
)
def test_load_image_high_depth_is_percentile_stretched(mode, dtype, scale):
    values = (RAMP * scale).astype(dtype)
    img = load_image(Image.fromarray(values, mode) if mode == "I;16" else Image.fromarray(values))
    channel = np.asarray(img)[..., 0]
    assert np.array_equal(channel, _expected_stretch(values.astype(np.float64)))
    assert (channel.min(), channel.max()) == (0, 255)
    assert np.array_equal(np.asarray(img)[..., 1], channel)


def test_load_image_float_nan_becomes_black():
    values = RAMP.astype(np.float32)
    values[5, 5] = np.nan
    channel = np.asarray(load_image(Image.fromarray(values)))[..., 0]
    assert channel[5, 5] == 0 and channel[9, 9] == 255


def test_load_image_from_path_and_bytes(tmp_path):
    path = _image(tmp_path / "a.png", color=(9, 8, 7))
    assert load_image(path).getpixel((0, 0)) == (9, 8, 7)
    assert load_image(str(path)).getpixel((0, 0)) == (9, 8, 7)
    assert load_image(path.read_bytes()).getpixel((0, 0)) == (9, 8, 7)
    values = (RAMP * 300).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "gray16.tif")
    Image.fromarray(values).save(tmp_path / "gray16.png")
    for name in ("gray16.tif", "gray16.png"):
        assert np.array_equal(np.asarray(load_image(tmp_path / name))[..., 0], _expected_stretch(values.astype(float)))


def test_load_image_errors(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"bad\.jpg: unreadable image"):
        load_image(tmp_path / "bad.jpg")
    with pytest.raises(DataError, match=r"gone\.png: cannot read image"):
        load_image(tmp_path / "gone.png")
    with pytest.raises(DataError, match=r"^<image bytes>: unreadable image"):
        load_image(b"\x00\x01")


def test_load_image_http(tmp_path):
    _image(tmp_path / "remote.png", color=(4, 5, 6))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert load_image(f"{base}/remote.png").getpixel((0, 0)) == (4, 5, 6)
        with pytest.raises(DataError, match=r"missing\.png: cannot download image \(HTTP Error 404"):
            load_image(f"{base}/missing.png")
    finally:
        server.shutdown()
        server.server_close()


def test_load_image_bytes_roundtrip_through_buffer():
    buffer = io.BytesIO()
    Image.new("LA", (3, 3), (90, 255)).save(buffer, format="PNG")
    assert load_image(buffer.getvalue()).getpixel((2, 2)) == (90, 90, 90)


@pytest.fixture
def tifffile():
    return pytest.importorskip("tifffile")


def test_load_image_16bit_rgb_tiff_keeps_full_precision(tmp_path, tifffile):
    # Pillow opens this as 8-bit RGB keeping only the high byte (values < 4096 -> nearly black); tifffile does not.
    red = (RAMP * 40).astype(np.uint16)
    tifffile.imwrite(tmp_path / "rgb16.tif", np.stack([red, red // 2, np.zeros_like(red)], -1), photometric="rgb")
    pixels = np.asarray(load_image(tmp_path / "rgb16.tif"))
    stacked = np.stack([red, red // 2, np.zeros_like(red)], -1).astype(np.float64)
    assert np.array_equal(pixels, _expected_stretch(stacked))  # one range for all bands: colour ratios survive
    red_out, green_out, blue_out = pixels[9, 9].tolist()
    assert red_out == 255 and 0 < green_out < red_out and blue_out == 0
    with Image.open(tmp_path / "rgb16.tif") as pillow_only:
        assert np.asarray(pillow_only).max() <= 15  # what reading with Pillow alone would have given


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_load_image_multiband_tiff_first_three_bands(tmp_path, tifffile, planar):
    bands = np.stack([(RAMP * (b + 1) * 10).astype(np.uint16) for b in range(6)], -1)
    stored = bands if planar == "contig" else np.moveaxis(bands, -1, 0)
    tifffile.imwrite(tmp_path / "mb.tif", stored, photometric="minisblack", planarconfig=planar)
    assert np.array_equal(np.asarray(load_image(tmp_path / "mb.tif")), _expected_stretch(bands[..., :3].astype(float)))
    # The header check used by every reader accepts what load_image reads.
    assert image_checks.image_problem(str(tmp_path / "mb.tif")) is None


def test_wide_tiff_without_tifffile_is_a_clear_error(tmp_path, tifffile, monkeypatch):
    tifffile.imwrite(tmp_path / "rgb16.tif", np.zeros((4, 4, 3), np.uint16), photometric="rgb")
    monkeypatch.setitem(sys.modules, "tifffile", None)  # makes `import tifffile` raise ImportError
    with pytest.raises(DataError, match=r"rgb16\.tif: this TIFF .* needs the tifffile package"):
        load_image(tmp_path / "rgb16.tif")
    assert "needs the tifffile package" in image_checks.image_problem(str(tmp_path / "rgb16.tif"))


# ---------------------------------------------------------------------------------------------------------------
# validate CLI


@pytest.fixture
def mixed_llava(llava_dir):
    """Good records at even positions, one of every bad LLaVA case between them."""
    rows, bad_indices = [], []
    for _, record, _ in BAD_LLAVA:
        rows.append(GOOD_LLAVA[0])
        bad_indices.append(len(rows))
        rows.append(record)
    return _write_json(llava_dir / "mixed.json", rows), bad_indices


def test_cli_mixed_bad_file_one_line_per_bad_record(mixed_llava, llava_dir, capsys):
    path, bad_indices = mixed_llava
    code = data.main(["validate", "--format", "llava", str(path), "--image-folder", str(llava_dir / "images")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert len(lines) == len(bad_indices) + 1
    for line, index, (_, _, expected) in zip(lines, bad_indices, BAD_LLAVA):
        assert line.startswith(f"{path}: record {index + 1}: ") and expected in line
    n = len(bad_indices)
    assert lines[-1] == f"validated {2 * n} records: {n} ok, {n} bad (format llava)"


def test_cli_clean_file_exits_zero(llava_dir, capsys):
    path = _write_json(llava_dir / "sft.json", GOOD_LLAVA)
    assert data.main(["validate", "--format", "llava", str(path), "--image-folder", str(llava_dir / "images")]) == 0
    assert capsys.readouterr().out == "validated 6 records: 6 ok, 0 bad (format llava)\n"


def test_cli_file_level_problem_exits_one(tmp_path, capsys):
    path = tmp_path / "sft.json"
    path.write_bytes(b'[{"id": "\xff"}]')
    assert data.main(["validate", "--format", "llava", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: not valid UTF-8 (line 1, byte offset 9)",
        "validated 0 records: the file itself is bad (format llava)",
    ]


def test_cli_formats_with_their_own_arguments(tmp_path, capsys):
    root = _imagefolder(tmp_path / "grpo", GOOD_IMAGEFOLDER)
    assert data.main(["validate", "--format", "imagefolder", str(root)]) == 0
    _image(tmp_path / "scorers" / "cls_AID" / "a.jpg")
    scorers = _write_json(tmp_path / "scorers" / "cls_AID.json", [{"image": "a.jpg", "conversations": _qa("q", "a")}])
    assert data.main(["validate", "--format", "scorers", str(scorers)]) == 0  # data_root defaults to the JSON's folder
    _image(tmp_path / "sam" / "0_a.jpg")
    (tmp_path / "sam" / "notes.txt").write_text("x")
    assert data.main(["validate", "--format", "samdata_test", str(tmp_path / "sam")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "validated 2 records: 2 ok, 0 bad (format imagefolder)",
        "validated 1 records: 1 ok, 0 bad (format scorers)",
        "validated 1 records: 1 ok, 0 bad, 1 ignored (format samdata_test)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "--format", "llava"], "the following arguments are required: PATH"),
        (["validate", "PATH"], "the following arguments are required: --format"),
        (["validate", "--format", "csv", "x"], "invalid choice: 'csv'"),
        (["validate", "--format", "llava", "no/such.json"], "PATH no/such.json: no such file or folder"),
        (["validate", "--format", "samdata_test", ".", "--image-folder", "."], "--image-folder does not apply"),
        (["validate", "--format", "llava", ".", "--image-folder", "no/such"], "--image-folder no/such: no such folder"),
    ],
)
def test_cli_usage_errors_exit_two(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        data.main(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_subprocess_has_no_traceback(mixed_llava, llava_dir):
    path, bad_indices = mixed_llava
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "common.data", "validate", "--format", "llava", str(path)]
    done = subprocess.run(
        [*command, "--image-folder", str(llava_dir / "images")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == len(bad_indices) + 1
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "common.data", "validate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )
    assert (done.returncode, "Traceback" in done.stderr) == (2, False)


# ---------------------------------------------------------------------------------------------------------------
# Synthetic datasets (offline.synthetic): every one validates clean.


def _synthetic_jobs(root: Path) -> list[list[str]]:
    """validate arguments for every synthetic dataset (layout: the offline.synthetic docstring)."""
    samdata, vhm = root / "samdata", root / "vhm"
    jobs = [
        ["--format", "llava", str(samdata / "train" / name), "--image-folder", str(samdata / "train")]
        for name in ("sam_300_inst.json", "sam_300_reasoning_inst.json")
    ]
    jobs += [
        ["--format", "samdata_test", str(samdata / "test")],
        ["--format", "imagefolder", str(samdata / "grpo")],
        ["--format", "tinyrs_grpo", str(root / "vhm_grpo")],
    ]
    jobs += [
        ["--format", "llava", str(vhm / f"{name}.json"), "--image-folder", str(vhm)]
        for name in ("list_pretrain_corrected", "list_sft_oversampled", "list_sft_reasoning_oversampled")
    ]
    scorers = sorted((root / "scorers").glob("*.json"))
    geovlm = sorted((root / "geovlm").glob("*.jsonl"))
    assert scorers and geovlm
    jobs += [["--format", "scorers", str(path)] for path in scorers]
    jobs += [["--format", "jsonl", str(path), "--image-folder", str(root / "geovlm" / "images")] for path in geovlm]
    return jobs


def test_every_synthetic_dataset_validates(synthetic_dir, capsys):
    for job in _synthetic_jobs(synthetic_dir):
        code = data.main(["validate", *job])
        output = capsys.readouterr().out
        assert code == 0, output
        summary = re.fullmatch(r"validated (\d+) records: \1 ok, 0 bad.*", output.splitlines()[-1])
        assert summary and int(summary[1]) > 0, (job, output)


# ---------------------------------------------------------------------------------------------------------------
# Faults of long runs (issue 12): decompression bombs, cut-short images, names no reward knows, empty inputs


@pytest.fixture
def tifffile_module():
    return pytest.importorskip("tifffile")


# (case id, builder, expected message after "image too large: PATH (")
BOMBS = [
    # Pillow refuses at open (over twice its own limit); reported in our words
    ("tiff-15000x15000x3-uint16", lambda p: faults.tiff_bomb(p / "b.tif"), "225,000,000 pixels is over the limit of"),
    # Pillow only warns here and hands over to tifffile (16-bit, 3 bands), which has no guard of its own
    ("tiff-10000x10000x3-uint16", lambda p: faults.tiff_bomb(p / "b.tif", 10000, 10000), "10000x10000 is 100,000,000"),
    ("tiff-one-band", lambda p: faults.tiff_bomb(p / "b.tif", 12000, 12000, 1), "12000x12000 is 144,000,000 pixels"),
    ("png-15000x15000", lambda p: faults.png_bomb(p / "b.png", 15000, 15000), "225,000,000 pixels is over the limit"),
    ("png-10000x10000", lambda p: faults.png_bomb(p / "b.png", 10000, 10000), "10000x10000 is 100,000,000 pixels"),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in BOMBS], ids=[c[0] for c in BOMBS])
def test_every_decoder_refuses_an_image_over_the_pixel_limit_before_decoding(
    tmp_path, tifffile_module, build, expected
):
    path = build(tmp_path)
    assert path.stat().st_size < 1000  # a few hundred bytes declaring gigabytes
    assert image_checks.image_problem(str(path)).startswith(f"image too large: {path} ({expected}")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: image too large \({re.escape(expected)}"):
        load_image(path)
    with pytest.raises(DataError, match=r"^<image bytes>: image too large"):
        load_image(path.read_bytes())


def test_the_pixel_limit_applies_to_in_memory_images_too(monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 63)
    with pytest.raises(DataError, match=r"image too large \(8x8 is 64 pixels, over the limit of 63"):
        load_image(Image.new("RGB", (8, 8)))
    assert load_image(Image.new("RGB", (7, 9))).size == (7, 9)


def test_a_bomb_in_training_data_is_a_bad_record(tmp_path, tifffile_module):
    faults.tiff_bomb(tmp_path / "bomb.tif")
    _image(tmp_path / "ok.png")
    rows = [{"image": name, "conversations": _qa("<image>\nq", "a")} for name in ("ok.png", "bomb.tif")]
    result = data.read_llava(_write_json(tmp_path / "sft.json", rows), tmp_path, policy="skip")
    assert [r.index for r in result.records] == [0]
    assert [(p.index, p.message.split(" (")[0]) for p in result.problems] == [
        (1, f"image too large: {tmp_path}/bomb.tif")
    ]


# (case id, builder, expected problem from the header check, without the path)
CUT_IMAGES = [
    ("jpeg-cut-at-60%", lambda p: faults.noise_jpeg(p / "x.jpg", keep=0.6), "image truncated"),
    (
        "jpeg-cut-then-zero-padded",
        lambda p: faults.noise_jpeg(p / "x.jpg", keep=0.6, trailing=b"\0\0"),
        "image truncated",
    ),
    ("jpeg-whole-with-trailing-bytes", lambda p: faults.noise_jpeg(p / "x.jpg", trailing=b"EXTRA"), None),  # decodes
    ("jpeg-whole", lambda p: faults.noise_jpeg(p / "x.jpg"), None),
    ("png-cut", lambda p: _cut(_image(p / "x.png", size=(32, 32)), 20), "image unreadable"),  # verify() reads chunks
    ("tiff-strip-beyond-the-end", lambda p: _cut(faults.corrupt_tiff(p / "x.tif"), 40), "image truncated"),
]


def _cut(path: Path, drop: int) -> Path:
    path.write_bytes(path.read_bytes()[:-drop])
    return path


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CUT_IMAGES], ids=[c[0] for c in CUT_IMAGES])
def test_cut_short_images_are_found_without_decoding(tmp_path, tifffile_module, build, expected):
    path = build(tmp_path)
    problem = image_checks.image_problem(str(path))
    assert (problem.split(":")[0] if problem else None) == expected
    if problem:
        assert problem.startswith(f"{expected}: {path} (")


def test_damage_only_decoding_sees_is_found_when_decoding(tmp_path, tifffile_module):
    path = faults.corrupt_tiff(tmp_path / "x.tif")  # strip table intact, compressed bytes garbage
    assert image_checks.image_problem(str(path)) is None
    assert image_checks.image_problem(str(path), decode=True).startswith(
        f"image unreadable: {path} (Error -3 while decomp"
    )


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_a_truncated_jpeg_is_a_bad_record_under_either_policy(tmp_path, policy):
    faults.noise_jpeg(tmp_path / "ok.jpg")
    faults.noise_jpeg(tmp_path / "cut.jpg", keep=0.6)
    rows = [{"image": name, "conversations": _qa("<image>\nq", "a")} for name in ("ok.jpg", "cut.jpg", "ok.jpg")]
    path = _write_json(tmp_path / "sft.json", rows)
    if policy == "error":
        with pytest.raises(DataError, match=r"sft\.json: record 2: image truncated: .*cut\.jpg \(no JPEG end-of-image"):
            data.read_llava(path, tmp_path)
        return
    result = data.read_llava(path, tmp_path, policy="skip")
    assert ([r.index for r in result.records], result.skipped) == ([0, 2], 1)


def test_the_validator_decodes_every_image_unless_told_header_only(tmp_path, tifffile_module, capsys):
    faults.corrupt_tiff(tmp_path / "x.tif")
    path = _write_json(tmp_path / "sft.json", [{"image": "x.tif", "conversations": _qa("<image>\nq", "a")}])
    assert data.main(["validate", "--format", "llava", str(path), "--image-folder", str(tmp_path)]) == 1
    assert f"{path}: record 1: image unreadable: {tmp_path}/x.tif (Error -3" in capsys.readouterr().out
    assert (
        data.main(["validate", "--format", "llava", "--header-only", str(path), "--image-folder", str(tmp_path)]) == 0
    )


def test_jsonl_task_names_are_checked_against_what_grpo_scores(tmp_path, capsys):
    _image(tmp_path / "a.png")
    good = {"image": "a.png", "conversations": _qa("<image>q", "forest"), "task": "classification"}
    rows = [good, {**good, "task": "clasification"}, {**good, "accu_reward_method": "yes-no"}]
    path = _write_jsonl(tmp_path / "g.jsonl", rows)
    assert data.main(["validate", "--format", "jsonl", str(path), "--image-folder", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        f"{path}: record 2: unknown task 'clasification' (did you mean 'classification'?); known:"
    )
    assert lines[1].startswith(f"{path}: record 3: unknown accu_reward_method 'yes-no' (did you mean 'yes_no'?)")
    assert lines[2] == "validated 3 records: 1 ok, 2 bad (format jsonl)"
    # Without a vocabulary (eval's GeoVLM files) any string is a task.
    assert len(data.read_jsonl(path, tmp_path).records) == 3


@pytest.mark.parametrize(
    "fmt, make",
    [
        ("llava", lambda p: _write_json(p / "e.json", [])),  # "[]"
        ("jsonl", lambda p: _write_jsonl(p / "e.jsonl", [])),  # empty file
        ("imagefolder", lambda p: (_write_jsonl(p / "metadata.jsonl", []), p)[1]),
        ("scorers", lambda p: _write_json(p / "cls_AID.json", [])),
    ],
)
def test_an_empty_dataset_is_an_error(tmp_path, capsys, fmt, make):
    path = make(tmp_path)
    assert data.main(["validate", "--format", fmt, str(path)]) == 1
    source = path / "metadata.jsonl" if fmt == "imagefolder" else path
    assert capsys.readouterr().out.splitlines()[0] == f"{source}: no records"


def test_an_empty_samdata_folder_says_why_nothing_counts(tmp_path):
    (tmp_path / "3_other.jpg").write_bytes(b"")
    with pytest.raises(
        DataError, match=r"no records \(no sample images: a sample is named <0\|1\|2>.*; 1 entries are not"
    ):
        data.read_samdata_test(tmp_path)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("[1, 2, 3, 4]", None),
        ("[[10, 20, 300, 400]]", None),
        ("the airplane", "grounding answer has no [x1, y1, x2, y2] box: 'the airplane'"),  # scoring would fail late
        ("[30, 20, 10, 40]", "grounding box '[30, 20, 10, 40]' is inverted or empty (x2 <= x1 or y2 <= y1)"),
    ],
)
def test_rs_vg_answers_must_hold_the_box_the_scorer_reads(tmp_path, answer, expected):
    _image(tmp_path / "VG_DOIR_RSVG_test" / "a.png")
    path = _write_json(tmp_path / "VG_DOIR_RSVG_test.json", [{"image": "a.png", "conversations": _qa("q", answer)}])
    result = data.read_scorers(path, tmp_path, policy="skip")
    assert [p.message for p in result.problems] == ([expected] if expected else [])
