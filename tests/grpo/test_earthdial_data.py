"""grpo.data over EarthDial shards: multi-image rows (2 or 4 images, in column order), the shard's task, the
GeoVLM-R1 system prompt, the reference list, and bad rows named or counted through common.data.read_earthdial."""

import datasets
import numpy as np
import pytest

from common.data import DataError, load_image
from common.modeling import load_processor
from common.prompts import GEOVLM_R1_SYSTEM
from grpo.configs import GRPOScriptArguments
from grpo.data import build_dataset, detect_format
from offline.synthetic.earthdial import EARTHDIAL_SHARDS


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return load_processor(tiny_model_dir, padding_side="left")


def shard(synthetic_dir, key):
    return str(synthetic_dir / EARTHDIAL_SHARDS[key].path)


def build(processor, **fields):
    return build_dataset(GRPOScriptArguments(think_tag="think", **fields), processor)


def _shard_images(path, index, columns):
    dataset = datasets.load_from_disk(path)
    return [np.asarray(load_image(dataset[index][column])) for column in columns]


def test_detect_format_tells_earthdial_from_tinyrs(synthetic_dir):
    assert detect_format(shard(synthetic_dir, "train_change_captioning")) == "earthdial"
    assert detect_format(shard(synthetic_dir, "aid")) == "earthdial"  # a DatasetDict folder
    assert detect_format(str(synthetic_dir / "vhm_grpo")) == "tinyrs_grpo"


def test_two_and_four_image_rows_keep_their_order(synthetic_dir, processor):
    pairs, fmow = shard(synthetic_dir, "train_change_captioning"), shard(synthetic_dir, "fmow")
    data = build(
        processor,
        dataset_name=f"{pairs},{fmow}",
        dataset_tasks="change_captioning,temporal_classification",
    )
    assert data.format == "earthdial" and data.tasks == {"change_captioning": 4, "temporal_classification": 3}
    row = data.dataset[1]
    assert [image.size for image in row["images"]] == [(112, 112), (112, 112)]
    expected = _shard_images(pairs, 1, ["jpg_A", "jpg_B"])
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(row["images"], expected))
    # Row 1 has new houses: the two images differ, and all five references are carried.
    assert not np.array_equal(*expected)
    source = datasets.load_from_disk(pairs)[1]
    assert row["references"] == [source[f"groundtruth{k}"] for k in range(5)]
    assert row["solution"] == source["groundtruth0"] and row["task"] == "change_captioning"
    # The shard's question without its <image> placeholders (tags and the literal \\n kept); GeoVLM-R1's system
    # prompt asks for the think / answer layout.
    assert row["prompt"] == [
        {"role": "system", "content": GEOVLM_R1_SYSTEM},
        {"role": "user", "content": row["question"]},
    ]
    assert "<image>" not in row["question"]
    assert row["question"].split() == source["question"].replace("<image>", "").split()
    four = data.dataset[4]
    expected = _shard_images(fmow, 0, ["jpg_A", "jpg_B", "jpg_C", "jpg_D"])
    assert len(four["images"]) == 4
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(four["images"], expected))
    assert four["references"] == [four["solution"]] and four["obj_ids"] is None


def test_grounding_rows_carry_obj_ids_and_dataset_dict_split(synthetic_dir, processor):
    data = build(processor, dataset_name=shard(synthetic_dir, "grounding_nwpu"), dataset_tasks="grounding_description")
    source = datasets.load_from_disk(shard(synthetic_dir, "grounding_nwpu"))
    assert [row["obj_ids"] for row in data.dataset] == list(source["obj_ids"])
    # AID is a DatasetDict with a test split only: dataset_split names it.
    with pytest.raises(DataError, match=r"no split 'train' \(splits: test\)"):
        build(processor, dataset_name=shard(synthetic_dir, "aid"), dataset_tasks="classification")
    aid = build(
        processor, dataset_name=shard(synthetic_dir, "aid"), dataset_tasks="classification", dataset_split="test"
    )
    truths = list(datasets.load_from_disk(shard(synthetic_dir, "aid"))["test"]["groundtruth"])
    assert [row["solution"] for row in aid.dataset] == truths


def test_a_shard_needs_its_task_and_bad_rows_are_counted(synthetic_dir, processor, tmp_path):
    with pytest.raises(DataError, match="an EarthDial shard needs its task: give --dataset_tasks"):
        build(processor, dataset_name=shard(synthetic_dir, "xbd_det"))
    dataset = datasets.load_from_disk(shard(synthetic_dir, "xbd_det"))
    truths = list(dataset["groundtruth"])
    truths[1] = "[[1, 2, 3, 4]]"  # a four-number truth for a box task
    bad = dataset.remove_columns("groundtruth").add_column("groundtruth", truths)
    bad.save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(DataError, match=r"bad: record 2: unparseable ground-truth box"):
        build(processor, dataset_name=str(tmp_path / "bad"), dataset_tasks="detection")
    data = build(processor, dataset_name=str(tmp_path / "bad"), dataset_tasks="detection", data_policy="skip")
    assert [row["solution"] for row in data.dataset] == [truths[0], truths[2]]


def test_a_question_template_still_applies(synthetic_dir, processor):
    template = "{question} Think in <{think_tag}> </{think_tag}>."
    data = build(
        processor, dataset_name=shard(synthetic_dir, "train_vqa"), dataset_tasks="vqa", question_template=template
    )
    row = data.dataset[0]
    assert row["prompt"][1]["content"] == row["question"] + " Think in <think> </think>."
