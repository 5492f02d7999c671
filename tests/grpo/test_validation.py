"""grpo.validation without a model: the flags' checks, the slice read from a benchmark folder, and the scores of
answered rows under both protocols (the training run itself: tests/grpo/test_train.py)."""

import doctest

import pytest
from PIL import Image

from grpo import validation
from grpo.configs import GRPOScriptArguments
from grpo.validation import ValidationArguments, load_slice, score_slice


def test_docstring_examples():
    failures, _ = doctest.testmod(validation)
    assert failures == 0


def test_off_by_default():
    assert GRPOScriptArguments().val_task is None
    assert load_slice(ValidationArguments(), 16) is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"val_task": "samdata"}, "needs val_data_root"),
        ({"val_task": "samdata", "val_data_root": "d", "val_samples": 0}, "val_samples must be positive"),
        ({"val_task": "samdata", "val_data_root": "d", "val_batch_size": -1}, "val_batch_size must be positive"),
    ],
)
def test_bad_flags_fail_at_parse_time(fields, message):
    with pytest.raises(ValueError, match=message):
        GRPOScriptArguments(**fields)


def test_an_unknown_task_is_named(tmp_path):
    with pytest.raises(ValueError, match="val_task 'samdat' is not an eval task"):
        load_slice(ValidationArguments(val_task="samdat", val_data_root=str(tmp_path)), 16)


def samdata_folder(tmp_path):
    for name in ("0_001.png", "1_001.png", "2_001.png", "2_002.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    return tmp_path


def test_slice_takes_the_first_rows_and_the_run_length(tmp_path):
    args = ValidationArguments(val_task="samdata", val_data_root=str(samdata_folder(tmp_path)), val_samples=3)
    found = load_slice(args, 32)
    assert [row["id"] for row in found.rows] == ["0_001.png", "1_001.png", "2_001.png"]
    assert (found.task.key, found.max_new_tokens, found.batch_size) == ("samdata", 32, 8)
    assert (found.scoring.style, found.scoring.meteor) == ("tinyrs", False)
    args.val_max_new_tokens, args.val_prompt_style = 5, "qwen2vl"
    found = load_slice(args, 32)
    # The prompt style decides the box syntax ScoreRS grounding is scored in, as in eval.run.
    assert (found.max_new_tokens, found.prompt.style, found.scoring.style) == (5, "qwen2vl", "qwen2vl")


def test_scores_both_protocols(tmp_path):
    found = load_slice(ValidationArguments(val_task="samdata", val_data_root=str(samdata_folder(tmp_path))), 8)
    rows = found.rows
    answers = ["<answer>A missile silo.</answer>", "<answer>no military here</answer>", "<answer>farmland</answer>",
               "<answer>a paramilitary camp</answer>"]  # fmt: skip
    metrics = score_slice(found.task, [{**row, "prediction": a} for row, a in zip(rows, answers)], found.scoring)
    # paper: both military sites flagged (the negation counts), one civilian site flagged (substring) -> tp 2, fp 1.
    assert (metrics["val/samdata/tp"], metrics["val/samdata/fp"]) == (2.0, 1.0)
    assert metrics["val/samdata/f1"] == pytest.approx(0.8)
    # strict: only the silo is flagged -> tp 1, fn 1, tn 2.
    assert (metrics["val/samdata/strict/tp"], metrics["val/samdata/strict/fn"]) == (1.0, 1.0)
    assert metrics["val/samdata/strict/f1"] == pytest.approx(2 / 3)
    assert not any("per_category" in name for name in metrics)
