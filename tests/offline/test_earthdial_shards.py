"""The synthetic EarthDial shards of offline.synthetic.earthdial (exact columns, prompts, visible changes, derived
labels); moved from tests/common/test_earthdial_data.py, which keeps the common.data.read_earthdial tests."""

import datasets
import numpy as np
import pytest

from common.data import load_image, read_earthdial
from common.earthdial import rotated_corners
from offline.synthetic.earthdial import EARTHDIAL_SHARDS, format_box, grid100, size_group

# ---------------------------------------------------------------------------------------------------------------
# Synthetic shards


def test_geometry_helpers():
    assert grid100([0, 56, 111, 112], 112) == [0, 50, 99, 100]
    assert format_box([1, 2, 3, 4], 45) == "[[1, 2, 3, 4, 45]]"
    assert size_group([0, 0, 7, 3]) == "small" and size_group([0, 0, 8, 3]) == "medium"
    assert size_group([0, 0, 15, 3]) == "medium" and size_group([0, 0, 16, 3]) == "large"
    # theta 90 turns a wide box into a tall one about its centre (upstream's row-vector rotation).
    corners = np.round(rotated_corners((0, 4, 10, 6), 90), 6).tolist()
    assert corners == [[4.0, 10.0], [4.0, 0.0], [6.0, 0.0], [6.0, 10.0]]


SHARDS = [
    # (key, image columns, answer columns, other columns, exact question or prefix)
    ("aid", ["jpg"], ["groundtruth"], [], "Classify the given image in one of the following classes. Classes: "),
    ("ucm", ["jpg"], ["groundtruth"], [], "[hr_rgb_0.5]  <image> \\n Classify the given image in one of the"),
    ("whu19", ["jpg"], ["groundtruth"], [], "[hr_rgb_0.5]  <image> \\n Classify the given image in one of the"),
    ("bigearthnet", ["jpg"], ["groundtruth"], [], "[hr_rgb_0.5]  <image> \\n Classify the given image into"),
    ("rsvqa_lr", ["jpg"], ["groundtruth"], ["ttype"], "[hr_rgb_0.5] <image>\\n "),
    ("rsvqa_hr", ["jpg"], ["groundtruth"], ["ttype"], "[hr_rgb_0.5] <image>\\n "),
    (
        "rec_geochat",
        ["jpg"],
        ["groundtruth"],
        ["ttype", "size_group"],
        "[refer] [hr_rgb_0.5] <image> \\n Give me the location of <ref>",
    ),
    ("rec_nwpu", ["jpg"], ["groundtruth"], ["ttype", "size_group"], " [refer] [hr_rgb_0.5] <image> \\n <ref>"),
    (
        "region_geochat",
        ["jpg"],
        ["groundtruth"],
        ["ttype", "size_group"],
        " [identify] [hr_rgb_0.5] <image> \\n describe this object in <box>[[",
    ),
    (
        "region_nwpu",
        ["jpg"],
        ["groundtruth"],
        ["ttype", "size_group"],
        " [identify] [hr_rgb_0.5] <image> \\n what object is in this location <box>[[",
    ),
    (
        "cap_nwpu",
        ["jpg"],
        [f"groundtruth{k}" for k in range(5)],
        [],
        " [caption] [hr_rgb_0.5] <image> \\n Could you please provide the caption for the input image?",
    ),
    (
        "grounding_nwpu",
        ["jpg"],
        ["groundtruth"],
        ["obj_ids", "size_group", "obj_location", "obj_name"],
        " [grounding] [hr_rgb_0.5] <image> \\n Describe the image.",
    ),
    (
        "cc_levir",
        ["jpg_A", "jpg_B"],
        [f"groundtruth{k}" for k in range(5)],
        [],
        " [changedet] [hr_rgb_temp_0.5] <image> <image> \\n are there any semantic change detected in the provided "
        "images?",
    ),
    (
        "cc_muds",
        ["jpg_A", "jpg_B", "jpg_C", "jpg_D"],
        [f"groundtruth{k}" for k in range(5)],
        [],
        "[changedet] [hr_rgb_temp_0.5] <image> <image> <image> <image> \\n are there any semantic change detected",
    ),
    (
        "cc_sysu",
        ["jpg_A", "jpg_B"],
        ["groundtruth"],
        [],
        "[changedet] [hr_rgb_temp_0.5] <image>  <image> \\n are there any semantic change detected in the provided "
        "images?",
    ),
    (
        "fmow",
        ["jpg_A", "jpg_B", "jpg_C", "jpg_D"],
        ["groundtruth"],
        [],
        "[hr_rgb_temp_0.5]  <image>  <image> <image> <image> \\n Classify the given images in one of the following "
        "classes. Classes:  military_facility, crop_field, multi-unit_residential, lake_or_pond. \\nAnswer in one word "
        "or a short phrase. ",
    ),
    (
        "xbd_set1",
        ["jpg_A", "jpg_B"],
        ["groundtruth"],
        [],
        "[changedet] [hr_rgb_temp_0.5] <image> <image> \\n Analyze the images to identify the type of disaster that "
        "occurred. Options:  volcano, fire, earthquake, flood, tsunami, wind.",
    ),
    (
        "xbd_set2",
        ["jpg_A", "jpg_B"],
        ["groundtruth"],
        [],
        " [hr_rgb_temp_0.5] <image>  <image> \\n Are there any buildings affected due to disaster? Please answer yes or "
        'no."',
    ),
    (
        "xbd_set3",
        ["jpg_A", "jpg_B"],
        ["groundtruth"],
        [],
        ' [hr_rgb_temp_0.5] <image> <image> \\n How many building are affected? Please answer none, one, two or many."',
    ),
    (
        "xbd_reg_cls1",
        ["jpg_A", "jpg_B"],
        ["groundtruth"],
        [],
        "[identify] [hr_rgb_temp_0.5] <image> <image> \\n Compare",
    ),
    (
        "xbd_reg_cls2",
        ["jpg_A", "jpg_B"],
        ["groundtruth"],
        [],
        "[identify] [hr_rgb_temp_0.5] <image> \\n Is this building",
    ),
    (
        "xbd_caption",
        ["jpg_A", "jpg_B"],
        ["groundtruth"],
        [],
        "[grounding] [hr_rgb_temp_0.5] <image> <image> \\n Please describe the damage observed in the post-disaster "
        "image.",
    ),
    ("xbd_det", ["jpg_A", "jpg_B"], ["groundtruth"], [], "[refer] [hr_rgb_temp_0.5] <image> <image> \\n Locate all "),
    ("xbd_rod", ["jpg_A", "jpg_B"], ["groundtruth"], [], "[refer] [hr_rgb_temp_0.5] <image> <image> \\n Identify the"),
]


@pytest.mark.parametrize(("key", "images", "answers", "others", "question"), SHARDS, ids=[s[0] for s in SHARDS])
def test_synthetic_shard_columns_and_prompts(synthetic_dir, key, images, answers, others, question):
    shard = EARTHDIAL_SHARDS[key]
    loaded = datasets.load_from_disk(str(synthetic_dir / shard.path))
    if shard.split:
        loaded = loaded[shard.split]
    assert loaded.column_names == images + ["question"] + answers + others
    assert all(isinstance(loaded.features[c], datasets.Image) for c in images)
    result = read_earthdial(synthetic_dir / shard.path)
    assert result.summary() == "3 records: 3 ok, 0 bad"
    for record in result.records:
        assert len(record.images) == len(images)
        text = record.turns[0].content
        assert (
            text == question
            if question.endswith(("?", ".", ". ", '"')) and key != "rsvqa_lr"
            else text.startswith(question)
        )


def test_every_shard_is_listed_and_reads(synthetic_dir):
    families = {shard.family for shard in EARTHDIAL_SHARDS.values()}
    assert families == {
        "classification",
        "multilabel",
        "vqa",
        "referring_detection",
        "region_captioning",
        "image_captioning",
        "change_captioning",
        "grounding_description",
        "temporal_classification",
        "region_classification",
        "detection",
        "referred_detection",
    }
    train = {shard.family for shard in EARTHDIAL_SHARDS.values() if shard.train}
    assert train == families
    for shard in EARTHDIAL_SHARDS.values():
        assert read_earthdial(synthetic_dir / shard.path).summary() == f"{4 if shard.train else 3} records: " + (
            f"{4 if shard.train else 3} ok, 0 bad"
        )
    assert (synthetic_dir / "earthdial/Eardial_downstream_task_datasets/Classification/AID/test").is_dir()
    assert (synthetic_dir / "earthdial/training_set/Visual_Grounding_Shards/RSVG/state.json").is_file()


def _pixels(image) -> np.ndarray:
    return np.asarray(load_image(image), np.int16)


def test_change_pairs_show_the_change(synthetic_dir):
    result = read_earthdial(synthetic_dir / EARTHDIAL_SHARDS["cc_levir"].path)
    unchanged, changed = result.records[0], result.records[1]
    # Even rows: nothing built, identical pixels and the no-change references.
    assert np.array_equal(*(_pixels(i) for i in unchanged.images))
    assert unchanged.solution[0] == "Nothing has changed in this area."
    # Odd rows: new houses, so pixels differ, and every reference names the same count.
    before, after = (_pixels(i) for i in changed.images)
    assert (np.abs(before - after).max(axis=-1) > 40).sum() > 20
    count = changed.solution[0].split()[0] if changed.solution[0][0].isupper() else None
    assert count is not None and all("house" in c or "buildings" in c for c in changed.solution)


def test_xbd_labels_follow_the_damage(synthetic_dir):
    affected = read_earthdial(synthetic_dir / EARTHDIAL_SHARDS["xbd_set2"].path).records
    counts = read_earthdial(synthetic_dir / EARTHDIAL_SHARDS["xbd_set3"].path).records
    for yes_no, count in zip(affected, counts):
        pre, post = (_pixels(i) for i in yes_no.images)
        changed = bool((np.abs(pre - post) > 0).any())
        # Rows 0, 3, ... are spared: identical images, "no" and "none".
        assert yes_no.solution == ("yes" if changed else "no")
        assert (count.solution == "none") == (yes_no.solution == "no")
    assert [r.solution for r in affected][0] == "no"


def test_referring_boxes_are_rotated_grid_boxes(synthetic_dir):
    thetas = []
    for key in ("rec_geochat", "rec_nwpu", "train_referring_detection"):
        for record in read_earthdial(synthetic_dir / EARTHDIAL_SHARDS[key].path).records:
            boxes = [list(map(int, b.split(", "))) for b in record.solution.strip("[]").split("]][[")]
            assert all(len(b) == 5 and 0 <= min(b[:4]) and max(b[:4]) <= 100 for b in boxes)
            assert record.extra["size_group"] == size_group(boxes[0][:4])
            thetas += [b[4] for b in boxes]
    assert any(0 < t <= 90 for t in thetas)  # vehicles are rotated


def test_earthdial_shards_are_deterministic(tmp_path):
    from offline import synthetic
    from offline.synthetic.earthdial import write_shard

    for run in ("a", "b"):
        ctx = synthetic.Context(tmp_path / run, 0, synthetic.SIZES["small"])
        write_shard(ctx, "xbd_rod", EARTHDIAL_SHARDS["xbd_rod"])
    first, second = (read_earthdial(tmp_path / run / EARTHDIAL_SHARDS["xbd_rod"].path).records for run in ("a", "b"))
    assert [r.solution for r in first] == [r.solution for r in second]
    assert all(
        np.array_equal(_pixels(a), _pixels(b)) for x, y in zip(first, second) for a, b in zip(x.images, y.images)
    )
