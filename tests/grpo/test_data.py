"""grpo.data: the three GRPO formats become prompt / images / solution / task / ... rows (SPEC 2.2-2.4, 4), images
decode lazily to RGB, open-ended rows follow the judge policy, and bad data is named by file and record."""

import json
import logging
import re

import pytest
from PIL import Image

from common.data import DataError
from common.modeling import load_processor
from common.prompts import REASONING_SYSTEM, SAMCHAT_GRPO_SUFFIX, SAMCHAT_GRPO_SYSTEM
from grpo.configs import GRPOScriptArguments
from grpo.data import ImageSizer, build_dataset, detect_format

GEOVLM_TASKS = ["captioning", "classification", "counting", "detection", "multilabel", "referring_detection", "vqa"]


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return load_processor(tiny_model_dir, padding_side="left")


def build(processor, **fields):
    return build_dataset(GRPOScriptArguments(**fields), processor)


def test_detect_format(synthetic_dir, tmp_path):
    assert detect_format(str(synthetic_dir / "samdata/grpo")) == "imagefolder"
    assert detect_format(str(synthetic_dir / "vhm_grpo")) == "tinyrs_grpo"
    assert detect_format(f"{synthetic_dir}/geovlm/vqa.jsonl,{synthetic_dir}/geovlm/counting.jsonl") == "jsonl"
    assert detect_format("aybora/VHM_dataset_grpo") == "tinyrs_grpo"  # not a local path: a Hub id
    with pytest.raises(DataError, match="cannot tell the GRPO format"):
        detect_format(str(tmp_path))


def test_samchat_imagefolder_rows(synthetic_dir, processor):
    data = build(processor, dataset_name=str(synthetic_dir / "samdata/grpo"))
    metadata = [json.loads(line) for line in (synthetic_dir / "samdata/grpo/metadata.jsonl").read_text().splitlines()]
    assert data.format == "imagefolder" and len(data.dataset) == len(metadata) == 6
    assert data.tasks == {"samchat": 6} and not data.has_open_ended
    row = data.dataset[0]
    assert row["prompt"] == [
        {"role": "system", "content": SAMCHAT_GRPO_SYSTEM},
        {"role": "user", "content": metadata[0]["question"] + SAMCHAT_GRPO_SUFFIX},
    ]
    assert [r["solution"] for r in data.dataset] == [m["solution"] for m in metadata]
    assert row["question"] == metadata[0]["question"] and row["reward_method"] is None
    (image,) = row["images"]
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert row["image_size"] == list(image.size)
    assert row["input_size"] == ImageSizer.from_processor(processor).input_size(*image.size)
    assert "_media" not in row


def test_image_sizer_follows_qwen_resize():
    sizer = ImageSizer(factor=28, min_pixels=3136, max_pixels=2359296)
    assert sizer.input_size(1000, 500) == [1008, 504]
    assert sizer.input_size(4000, 4000) == [1526 // 28 * 28, 1526 // 28 * 28]
    assert ImageSizer(factor=28, min_pixels=3136, max_pixels=12544).input_size(448, 448) == [112, 112]


def test_tinyrs_rows_and_judge_policy(synthetic_dir, processor):
    data = build(processor, dataset_name=str(synthetic_dir / "vhm_grpo"))
    assert data.format == "tinyrs_grpo"
    assert data.tasks == {"open_ended": 2, "short_answer": 2, "bbox": 2} and data.has_open_ended
    row = data.dataset[0]
    assert row["prompt"][0] == {"role": "system", "content": REASONING_SYSTEM}
    assert row["prompt"][1] == {"role": "user", "content": "Describe this image in detail."}
    assert row["task"] == "open_ended" and row["question"] == "Describe this image in detail."
    assert row["images"][0].mode == "RGB" and row["solution"].startswith("The image is an overhead view")

    skipped = build(processor, dataset_name=str(synthetic_dir / "vhm_grpo"), judge_policy="skip")
    assert skipped.dropped_open_ended == 2 and len(skipped.dataset) == 4
    assert "open_ended" not in {r["task"] for r in skipped.dataset}


def test_geovlm_jsonl_files_with_the_think_template(synthetic_dir, processor):
    files = ",".join(str(synthetic_dir / "geovlm" / f"{task}.jsonl") for task in ("vqa", "counting"))
    data = build(processor, dataset_name=files, image_folder=str(synthetic_dir / "geovlm/images"), think_tag="think")
    assert data.format == "jsonl" and data.tasks == {"vqa": 3, "counting": 3}
    first = json.loads((synthetic_dir / "geovlm/vqa.jsonl").read_text().splitlines()[0])
    question = first["conversations"][0]["value"].replace("<image>", "")
    row = data.dataset[0]
    assert row["prompt"] == [
        {
            "role": "user",
            "content": f"{question} Output the thinking process in <think> </think> and final answer in "
            "<answer> </answer> tags.",
        }
    ]
    assert row["question"] == question and row["solution"] == first["conversations"][1]["value"]


def test_jsonl_task_from_the_file_and_reward_method_from_the_record(synthetic_dir, processor, tmp_path):
    records = [json.loads(line) for line in (synthetic_dir / "geovlm/vqa.jsonl").read_text().splitlines()]
    for record in records:
        del record["task"]
    records[1]["accu_reward_method"] = "yes_no"
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    folder = str(synthetic_dir / "geovlm/images")
    with pytest.raises(DataError, match=r"mixed.jsonl: record 1 \(id 'vqa-0000'\): no 'task' field"):
        build(processor, dataset_name=str(path), image_folder=folder)
    data = build(processor, dataset_name=str(path), image_folder=folder, dataset_tasks="vqa", max_samples=2)
    assert [r["task"] for r in data.dataset] == ["vqa", "vqa"]
    assert [r["reward_method"] for r in data.dataset] == [None, "yes_no"]


def test_system_prompt_and_question_template_overrides(synthetic_dir, processor):
    data = build(
        processor,
        dataset_name=str(synthetic_dir / "samdata/grpo"),
        system_prompt="S",
        question_template="Q: {question} <{think_tag}>",
    )
    question = data.dataset[0]["question"]
    assert data.dataset[0]["prompt"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": f"Q: {question} <reasoning>"},
    ]


def test_bad_records_are_named_or_counted(synthetic_dir, processor, tmp_path):
    folder = tmp_path / "grpo"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (folder / name).write_bytes((synthetic_dir / "samdata/grpo/grpo_0000.jpg").read_bytes())
    lines = [
        {"file_name": "a.jpg", "question": "q", "solution": "1"},
        {"file_name": "missing.jpg", "question": "q", "solution": "0"},
        {"file_name": "b.jpg", "question": "q", "solution": "0"},
    ]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(DataError, match=r"metadata.jsonl: record 2 \(id 'missing.jpg'\): image not found"):
        build(processor, dataset_name=str(folder))
    data = build(processor, dataset_name=str(folder), data_policy="skip")
    assert [r["solution"] for r in data.dataset] == ["1", "0"]


def test_nothing_left_is_an_error(synthetic_dir, processor, tmp_path):
    path = tmp_path / "open.jsonl"
    records = [json.loads(line) for line in (synthetic_dir / "geovlm/vqa.jsonl").read_text().splitlines()]
    path.write_text("".join(json.dumps({**r, "task": "open_ended"}) + "\n" for r in records))
    with pytest.raises(DataError, match="no training records left"):
        build(processor, dataset_name=str(path), image_folder=str(synthetic_dir / "geovlm/images"), judge_policy="skip")


def test_the_validator_knows_exactly_the_tasks_grpo_scores():
    from common import data as common_data
    from grpo.rewards import TASKS
    from grpo.rewards.geovlm import GEOVLM_TASKS as REWARD_METHODS

    assert (common_data.GRPO_TASKS, common_data.GEOVLM_TASKS) == (TASKS, REWARD_METHODS)


def _vqa_lines(synthetic_dir, n=3):
    return [json.loads(line) for line in (synthetic_dir / "geovlm/vqa.jsonl").read_text().splitlines()][:n]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"task": "clasification"}, "unknown task 'clasification' (did you mean 'classification'?)"),  # misspelt
        ({"accu_reward_method": "yesno"}, "unknown accu_reward_method 'yesno' (did you mean 'yes_no'?)"),
    ],
)
def test_an_unknown_task_name_is_an_error_or_a_counted_skip(
    synthetic_dir, processor, tmp_path, caplog, change, message
):
    # Before: trained with rewards/geovlm_accuracy/mean None, no warning (no rule matches the name).
    lines = _vqa_lines(synthetic_dir)
    lines[1].update(change)
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    fields = {"dataset_name": str(path), "image_folder": str(synthetic_dir / "geovlm/images")}
    with pytest.raises(DataError, match=rf"t\.jsonl: record 2 \(id 'vqa-0001'\): {re.escape(message)}"):
        build(processor, **fields)
    with caplog.at_level("WARNING"):
        data = build(processor, **fields, data_policy="skip")
    assert len(data.dataset) == 2
    assert f"{path}: skipped 1 of 3 records (policy skip)" in caplog.text


def test_an_unknown_dataset_task_is_refused_with_the_recipe():
    with pytest.raises(ValueError, match=r"dataset_tasks: unknown task\(s\) \['vqa2'\]; known: samchat,"):
        GRPOScriptArguments(dataset_name="a.jsonl", dataset_tasks="vqa,vqa2")


def test_a_truncated_jpeg_is_skipped_and_counted_before_training(synthetic_dir, processor, tmp_path, caplog):
    from tests import faults

    folder = tmp_path / "grpo"
    folder.mkdir()
    faults.noise_jpeg(folder / "a.jpg")
    faults.noise_jpeg(folder / "cut.jpg", keep=0.6)  # decoding it mid-run would abort the step
    lines = [{"file_name": name, "question": "q", "solution": "1"} for name in ("a.jpg", "cut.jpg", "a.jpg")]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(DataError, match=r"metadata\.jsonl: record 2 \(id 'cut\.jpg'\): image truncated: .*cut\.jpg"):
        build(processor, dataset_name=str(folder))
    with caplog.at_level("WARNING"):
        data = build(processor, dataset_name=str(folder), data_policy="skip")
    assert len(data.dataset) == 2 and "skipped 1 of 3 records (policy skip)" in caplog.text
    assert [row["images"][0].size for row in data.dataset] == [(64, 64), (64, 64)]  # the rest decodes


def test_grpo_train_refuses_a_task_no_reward_scores_before_the_model_loads(
    repo_root, tiny_model_dir, synthetic_dir, tmp_path, caplog, monkeypatch
):
    import grpo.train

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not load")

    monkeypatch.setattr(grpo.train, "build_model", no_model)
    data = synthetic_dir / "geovlm" / "counting.jsonl"
    argv = ["--config", str(repo_root / "configs/grpo/demo.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--dataset_name", str(data), "--dataset_format", "jsonl", "--image_folder", str(synthetic_dir / "geovlm/images"),
            "--output_dir", str(tmp_path / "out"), "--report_to", "none"]  # fmt: skip
    levels = {name: logging.getLogger(name).level for name in ("common", "grpo", "__main__")}
    try:
        with caplog.at_level("ERROR"):
            assert grpo.train.main(argv) == 1
    finally:
        for name, level in levels.items():  # main() sets this project's loggers to INFO
            logging.getLogger(name).setLevel(level)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        f"bad training data: {data}: task 'counting' (3 rows): none of the chosen rewards (format, samchat_keyword) "
        "scores it; add one that does (counting, geovlm_accuracy) to reward_funcs, or leave those rows out"
    ]


def test_an_image_damaged_past_its_header_is_a_counted_skip_or_one_line(synthetic_dir, processor, tmp_path, caplog):
    """A PNG cut inside its pixel data passes validation; reading its row mid-run under skip serves the next row in
    its place (every column) and counts it; under error, one line naming file and record."""
    from common.data.images import MidRunDataError
    from tests import faults

    folder = tmp_path / "grpo"
    folder.mkdir()
    faults.noise_jpeg(folder / "a.jpg")
    faults.png_cut_in_its_data(folder / "cut.png")
    lines = [{"file_name": name, "question": f"q{i}", "solution": "1"} for i, name in enumerate(["a.jpg", "cut.png"])]
    lines.append({"file_name": "a.jpg", "question": "q2", "solution": "0"})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    data = build(processor, dataset_name=str(folder), data_policy="skip")
    assert len(data.dataset) == 3  # validation passes the image
    with caplog.at_level("WARNING", logger="common.data.images"):
        row = data.dataset[1]
    assert (row["question"], row["solution"], row["images"][0].size) == ("q2", "0", (64, 64))
    where = f"{folder / 'metadata.jsonl'}: record 2 (id 'cut.png'): {folder / 'cut.png'}: unreadable image"
    assert [r.getMessage()[:180] for r in caplog.records] == [
        f"skipped a record during training (data_policy skip, 1 so far in this process): {where}"[:180]
    ]
    strict = build(processor, dataset_name=str(folder))
    with pytest.raises(MidRunDataError) as caught:
        strict.dataset[1]
    assert str(caught.value).startswith(where + " (image file is truncated")
