"""EarthDial shards: common.data.read_earthdial (records, per-row errors, skip counts, the validator CLI). The
synthetic shards of offline.synthetic.earthdial: tests/offline/test_earthdial_shards.py."""

import io
import json

import datasets
import pytest
from PIL import Image

from common import data
from common.data import DataError, load_image, read_earthdial

PNG = io.BytesIO()
Image.new("RGB", (8, 8), (10, 200, 30)).save(PNG, format="PNG")
PNG_BYTES = PNG.getvalue()


def _save(path, rows, *, split=None, images=("jpg",)):
    features = {column: datasets.Image() for column in images}
    features.update({key: datasets.Value("string") for key in rows[0] if key not in images})
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    dataset = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    if split:
        datasets.DatasetDict({split: dataset}).save_to_disk(str(path))
    else:
        dataset.save_to_disk(str(path))
    return path


def _image():
    return {"bytes": PNG_BYTES, "path": None}


def _rec_row(question="[refer] [hr_rgb_0.5] <image> \\n <ref>1 car</ref>", truth="[[1, 2, 30, 40, 15]]", **extra):
    return {"jpg": _image(), "question": question, "groundtruth": truth, "ttype": "ref", "size_group": "small", **extra}


# ---------------------------------------------------------------------------------------------------------------
# Reader


def test_read_earthdial_records(tmp_path):
    path = _save(tmp_path / "refer", [_rec_row(), _rec_row(truth="[[1, 2, 3, 4, 0]][[-3, 5, 9, 131, 45]]")])
    result = read_earthdial(path)
    assert result.summary() == "2 records: 2 ok, 0 bad"
    first, second = result.records
    assert (first.id, first.index, first.source) == ("refer-0", 0, str(path))
    assert [(t.role, t.content) for t in first.turns] == [("user", "[refer] [hr_rgb_0.5] <image> \\n <ref>1 car</ref>")]
    assert first.solution == "[[1, 2, 30, 40, 15]]" and first.task is None
    assert first.extra == {"ttype": "ref", "size_group": "small"}
    # Signed and out-of-grid truths (GeoChat has -3..131) are valid shards; the scorers drop them as upstream does.
    assert second.solution == "[[1, 2, 3, 4, 0]][[-3, 5, 9, 131, 45]]"
    (image,) = first.images
    assert load_image(image).size == (8, 8)


def test_read_earthdial_multi_image_and_five_references(tmp_path):
    row = {
        "jpg_A": _image(),
        "jpg_B": _image(),
        "question": " [changedet] [hr_rgb_temp_0.5] <image> <image> \\n are there any changes?",
        **{f"groundtruth{k}": f"caption {k}" for k in range(5)},
    }
    # Columns stored in another order still give the images in the order jpg_A, jpg_B.
    path = _save(tmp_path / "cc", [row], images=("jpg_B", "jpg_A"))
    (record,) = read_earthdial(path).records
    assert len(record.images) == 2
    assert record.solution == ["caption 0", "caption 1", "caption 2", "caption 3", "caption 4"]
    assert record.extra == {}


def test_read_earthdial_dataset_dict_split(tmp_path):
    path = _save(tmp_path / "AID", [_rec_row(question="Classify. ", truth="Pond")], split="test")
    result = read_earthdial(path)  # a single split needs no name
    assert result.records[0].source == str(path / "test") and result.records[0].id == "AID-0"
    with pytest.raises(DataError, match=r"no split 'train' \(splits: test\)"):
        read_earthdial(path, split="train")
    dataset = datasets.load_from_disk(str(path))
    datasets.DatasetDict({"test": dataset["test"], "train": dataset["test"]}).save_to_disk(str(tmp_path / "two"))
    with pytest.raises(DataError, match=r"give the split \(splits: test, train\)"):
        read_earthdial(tmp_path / "two")
    assert read_earthdial(tmp_path / "two", split="train").total == 1


PAIR = {"jpg_A": _image(), "jpg_B": _image(), "question": "<image> <image> q", "groundtruth": "x"}
GROUNDING = {
    "jpg": _image(),
    "question": " [grounding] [hr_rgb_0.5] <image> \\n Describe the image.",
    "groundtruth": "In the satellite image, there is ...",
    "obj_ids": json.dumps(["[[1, 2, 3, 4, 0]]", "[[5, 6, 7, 8, 9]]"]),
    "size_group": json.dumps(["small", "large"]),
    "obj_location": json.dumps(["left", "right"]),
    "obj_name": json.dumps(["car", "car"]),
}
BAD_ROWS = [
    # (case, good row, what the bad row changes, expected message)
    # The question column holds no value in this row.
    ("no-question", _rec_row(), {"question": None}, "missing 'question'"),
    # The ground truth column holds no value.
    ("no-truth", _rec_row(), {"groundtruth": None}, "missing 'groundtruth'"),
    # Two <image> for one image: the prompt names an image the row does not have.
    (
        "two-placeholders-one-image",
        _rec_row(),
        {"question": "[changedet] <image> <image> \\n q"},
        "1 image(s) (jpg) but 2 <image> placeholders in the question",
    ),
    # Four <image> for a pre/post pair.
    (
        "four-placeholders-two-images",
        PAIR,
        {"question": "<image> <image> <image> <image> q"},
        "2 image(s) (jpg_A, jpg_B) but 4 <image> placeholders in the question",
    ),
    # A box task whose truth is a four-number box.
    (
        "four-number-truth",
        _rec_row(),
        {"groundtruth": "[[1, 2, 3, 4]]"},
        "unparseable ground-truth box 'groundtruth': box [1, 2, 3, 4] has 4 numbers, expected 5",
    ),
    # A box task whose truth holds no box at all.
    ("no-box-truth", _rec_row(), {"groundtruth": "a car"}, "unparseable ground-truth box 'groundtruth': no [x1, y1"),
    # size_group outside upstream's three groups (its scorer raises KeyError).
    ("bad-size-group", _rec_row(), {"size_group": "tiny"}, "'size_group' must be one of small, medium, large"),
    # An image cell without bytes or path.
    ("no-image", PAIR, {"jpg_B": None}, "image 'jpg_B' missing"),
    # Bytes that are not an image.
    ("corrupt-image", _rec_row(), {"jpg": {"bytes": b"not an image", "path": None}}, "image 'jpg' unreadable"),
    # Grounding lists of different lengths and an obj_ids entry that is not boxes.
    (
        "grounding-lists",
        GROUNDING,
        {"obj_ids": json.dumps(["[[1, 2, 3, 4, 0]]", "two cars"]), "size_group": json.dumps(["small"])},
        "the object lists differ in length: {'obj_ids': 2, 'size_group': 1, 'obj_location': 2, 'obj_name': 2}; "
        "obj_ids[1]: no [x1, y1, x2, y2, theta] box in 'two cars'",
    ),
    # A grounding size group outside the three.
    ("grounding-size", GROUNDING, {"size_group": json.dumps(["small", "huge"])}, "got ['huge']"),
    # A grounding column that is not a JSON list.
    ("grounding-json", GROUNDING, {"obj_name": "car, car"}, "'obj_name' must be a JSON list stored as a string"),
]


@pytest.mark.parametrize(("case", "good", "change", "expected"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_read_earthdial_bad_row(tmp_path, case, good, change, expected):
    images = tuple(column for column in ("jpg", "jpg_A", "jpg_B") if column in good)
    path = _save(tmp_path / "shard", [good, {**good, **change}, good], images=images)
    with pytest.raises(DataError) as raised:
        read_earthdial(path)
    assert str(raised.value).startswith(f"{path}: record 2: ") and expected in str(raised.value)
    result = read_earthdial(path, policy="skip")
    assert [r.index for r in result.records] == [0, 2]
    assert result.skipped == 1 and result.summary() == "3 records: 2 ok, 1 bad"
    assert str(result.problems[0]).startswith(f"{path}: record 2: ")


def test_one_placeholder_or_none_fits_any_image_count(tmp_path):
    # xBD reg_cls_2: two images, one <image>; AID: no <image> (EarthDial's chat prepends one). Both valid.
    rows = [
        {
            "jpg_A": _image(),
            "jpg_B": _image(),
            "question": "[identify] <image> \\n Is it affected?",
            "groundtruth": "yes",
        },
        {"jpg_A": _image(), "jpg_B": _image(), "question": "Classify the given images. ", "groundtruth": "fire"},
    ]
    assert read_earthdial(_save(tmp_path / "s", rows, images=("jpg_A", "jpg_B"))).skipped == 0


def test_read_earthdial_file_level_problems(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        read_earthdial(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot load dataset"):
        read_earthdial(tmp_path / "empty")
    no_truth = _save(tmp_path / "no_truth", [{"jpg": _image(), "question": "q"}])
    with pytest.raises(DataError, match=r"missing column\(s\): 'groundtruth' or groundtruth0..4"):
        read_earthdial(no_truth)
    no_image = _save(tmp_path / "no_image", [{"question": "q", "groundtruth": "x"}], images=())
    with pytest.raises(DataError, match=r"missing column\(s\): an image column \(jpg/jpg_A/jpg_B/jpg_C/jpg_D\)"):
        read_earthdial(no_image, policy="skip")
    partial = {"jpg": _image(), "question": "q", "groundtruth0": "a", "groundtruth1": "b"}
    with pytest.raises(DataError, match=r"'groundtruth' or \['groundtruth2', 'groundtruth3', 'groundtruth4'\]"):
        read_earthdial(_save(tmp_path / "partial", [partial]))


def test_validate_cli_earthdial(tmp_path, capsys):
    path = _save(tmp_path / "refer", [_rec_row(), _rec_row(truth="[[1, 2, 3, 4]]")])
    assert data.main(["validate", "--format", "earthdial", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}: record 2: unparseable ground-truth box 'groundtruth': box [1, 2, 3, 4] has 4 numbers, expected 5 "
        "(x1, y1, x2, y2, theta)",
        "validated 2 records: 1 ok, 1 bad (format earthdial)",
    ]
    assert data.READERS["earthdial"] is read_earthdial
