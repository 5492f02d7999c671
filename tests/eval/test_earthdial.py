"""EarthDial-Bench eval tasks: registry, exact prompts (snapshots), multi-image messages, both protocols, and
rescoring EarthDial's own result rows through `python -m eval.score`.

Result rows are hand-written in the format of EarthDial's committed `results/*.jsonl` (EARTHDIAL.md 3.x).
"""

from __future__ import annotations

import io
import json

import datasets
import pytest
from PIL import Image

from common.data import DataError
from eval import score as score_cli
from eval.backends import Generation
from eval.generate import generate_task, read_predictions
from eval.tasks import FAMILIES, TASKS, PromptOptions, ScoreOptions, resolve_tasks
from eval.tasks.earthdial import DATASETS, earthdial_question_text, prompt_for
from offline.synthetic.earthdial import EARTHDIAL_SHARDS, EVAL_ROOT

ISSUE_KEYS = (
    "earthdial_rec_geochat",
    "earthdial_rec_nwpu",
    "earthdial_rsvqa_lr",
    "earthdial_rsvqa_hr",
    "earthdial_cap_nwpu",
    "earthdial_cap_rsicd",
    "earthdial_cap_rsitmd",
    "earthdial_region_geochat",
    "earthdial_region_nwpu",
    "earthdial_aid",
    "earthdial_ucm",
    "earthdial_whu19",
    "earthdial_cc_dubai",
    "earthdial_cc_levir",
    "earthdial_fmow",
    "earthdial_xbd_det",
)
OPTIONS = ScoreOptions()


def test_registry_has_the_issue_keys_and_the_family():
    assert set(ISSUE_KEYS) <= set(FAMILIES["earthdial"])
    assert len(FAMILIES["earthdial"]) == len(DATASETS) == 41
    tasks = resolve_tasks("earthdial")
    assert {t.family for t in tasks} == {"earthdial"} and len(tasks) == 41


@pytest.mark.parametrize(
    ("key", "images", "max_new_tokens"),
    [
        ("earthdial_aid", 1, 10),  # classification
        ("earthdial_bigearthnet", 1, 500),  # multi-label
        ("earthdial_rsvqa_lr", 1, 10),  # VQA
        ("earthdial_rec_geochat", 1, 100),  # referring detection
        ("earthdial_region_nwpu", 1, 30),  # region captioning
        ("earthdial_cap_rsicd", 1, 100),  # image captioning
        ("earthdial_grounding_hit_uav", 1, 300),  # grounding description, HIT-UAV
        ("earthdial_grounding_nwpu", 1, 100),  # grounding description, NWPU
        ("earthdial_cc_dubai", 2, 100),  # bi-temporal change captioning
        ("earthdial_cc_muds", 4, 100),  # four dates
        ("earthdial_fmow", 4, 100),  # temporal classification, four dates
        ("earthdial_xbd_set1", 2, 10),  # xBD disaster type
        ("earthdial_xbd_caption", 2, 50),  # xBD damage captioning
        ("earthdial_xbd_det", 2, 100),  # xBD object detection
        ("earthdial_xbd_rod", 2, 50),  # xBD referred object detection
    ],
)
def test_images_and_max_new_tokens(key, images, max_new_tokens):
    assert (DATASETS[key].images, TASKS[key].max_new_tokens) == (images, max_new_tokens)


# Shard question -> the prompt EarthDial's test script sends (EARTHDIAL.md 3.x); `\\n` is the stored backslash-n.
@pytest.mark.parametrize(
    ("key", "question", "prompt"),
    [
        # GeoChat refer: the prefix gains a real newline and a trailing space
        (
            "earthdial_rec_geochat",
            "[refer] [hr_rgb_0.5] <image> \\n Give me the location of <ref>1 large excavator</ref>",
            "[refer] [hr_rgb_0.5] <image> \n Give me the location of  <ref>1 large excavator</ref>",
        ),
        # other refer sets: the bare prefix becomes the full request
        (
            "earthdial_rec_nwpu",
            " [refer] [hr_rgb_0.5] <image> \\n <ref>4 white small storage tank at the top left</ref>",
            "[refer] [hr_rgb_0.5] <image> \n Give me the location of <ref>4 white small storage tank at the top left</ref>",
        ),
        # the SAR ship set uses its own sensor tag
        (
            "earthdial_rec_ship",
            " [refer] [s1_vh_1] <image> \\n <ref>1 medium ship at the bottom right</ref>",
            "[refer] [s1_vh_1] <image> \n Give me the location of <ref>1 medium ship at the bottom right</ref>",
        ),
        # VQA: a space and the single-word instruction
        (
            "earthdial_rsvqa_lr",
            "[hr_rgb_0.5] <image>\\n Is there a grass area?",
            "[hr_rgb_0.5] <image>\\n Is there a grass area? Answer the question using a single word.",
        ),
        # region captioning: verbatim (upstream's replacement is commented out)
        (
            "earthdial_region_nwpu",
            " [identify] [hr_rgb_0.5] <image> \\n what object is in this location <box>[[7, 22, 14, 31, 0]]</box>",
            " [identify] [hr_rgb_0.5] <image> \\n what object is in this location <box>[[7, 22, 14, 31, 0]]</box>",
        ),
        # grounding description: the short request becomes the long one
        (
            "earthdial_grounding_nwpu",
            " [grounding] [hr_rgb_0.5] <image> \\n Describe the image.",
            "[grounding] [hr_rgb_0.5] <image> \n Describe the image in detail. Detect objects location. Describe "
            "objects size. Where objects are located?. Describe relation between objects.",
        ),
        # HIT-UAV grounding: the thermal sensor tag
        (
            "earthdial_grounding_hit_uav",
            " [grounding] [Inf_thermal_1] <image> \\n Describe the image.",
            "[grounding] [Inf_thermal_1] <image> \n Describe the image in detail. Detect objects location. Describe "
            "objects size. Where objects are located?. Describe relation between objects.",
        ),
        # xBD yes/no: the suffix glued after the stored closing quote, no space
        (
            "earthdial_xbd_set2",
            ' [hr_rgb_temp_0.5] <image>  <image> \\n Are there any buildings affected due to disaster? Please answer yes or no."',
            ' [hr_rgb_temp_0.5] <image>  <image> \\n Are there any buildings affected due to disaster? Please answer yes or no."'
            "Answer in single word.",
        ),
        # xBD disaster type: verbatim (the org/req replacement is commented out)
        (
            "earthdial_xbd_set1",
            "[changedet] [hr_rgb_temp_0.5] <image> <image> \\n Analyze the images to identify the type of disaster that "
            "occurred. Options:  volcano, fire, earthquake, flood, tsunami, wind.",
            "[changedet] [hr_rgb_temp_0.5] <image> <image> \\n Analyze the images to identify the type of disaster that "
            "occurred. Options:  volcano, fire, earthquake, flood, tsunami, wind.",
        ),
    ],
)
def test_prompt_snapshots(key, question, prompt):
    assert prompt_for(key, question) == prompt


def test_messages_carry_every_image_in_order_before_the_text():
    row = {"id": "0", "images": ["A", "B"], "question": "[changedet] [hr_rgb_temp_0.5] <image> <image> \\n any change?"}
    messages = TASKS["earthdial_cc_dubai"].messages(row, PromptOptions())
    content = messages[1]["content"]
    assert [part["type"] for part in content] == ["image", "image", "text"]
    assert content[2]["text"] == "[changedet] [hr_rgb_temp_0.5]   \\n any change?"
    assert earthdial_question_text("<image>x") == "x"


def _score(key: str, rows: list[dict], protocol: str) -> dict:
    return TASKS[key].score(rows, protocol, OPTIONS)


@pytest.mark.parametrize(
    ("key", "rows", "protocol", "expected"),
    [
        # classification, paper: token recall (several classes rewarded); strict: exact label
        ("earthdial_aid", [{"prediction": "Airport, Port", "answer": "Airport"}], "paper", {"accuracy": 1.0}),
        ("earthdial_aid", [{"prediction": "Airport, Port", "answer": "Airport"}], "strict", {"accuracy": 0.0}),
        # GeoVLM-R1's tags are stripped before scoring
        (
            "earthdial_aid",
            [{"prediction": "<think>green fields</think><answer>Farmland</answer>", "answer": "Farmland"}],
            "strict",
            {"accuracy": 1.0},
        ),
        # multi-label: paper token recall of a perfect 3-label list is 0.8; strict set F1 is 1
        ("earthdial_bigearthnet", [{"prediction": "a, b, c", "answer": "c, b, a"}], "paper", {"accuracy": 0.8}),
        ("earthdial_bigearthnet", [{"prediction": "a, b, c", "answer": "c, b, a"}], "strict", {"accuracy": 1.0}),
        # a failed row: left out by the paper protocol, a miss for the strict one
        (
            "earthdial_ucm",
            [{"prediction": "forest", "answer": "forest"}, {"prediction": "", "answer": "river", "error": "x"}],
            "paper",
            {"accuracy": 1.0, "count": 1},
        ),
        (
            "earthdial_ucm",
            [{"prediction": "forest", "answer": "forest"}, {"prediction": "", "answer": "river", "error": "x"}],
            "strict",
            {"accuracy": 0.5, "count": 2},
        ),
        # referring detection inside <answer>: a hit in small / single
        (
            "earthdial_rec_nwpu",
            [
                {
                    "prediction": "<think>left</think><answer>[[0, 0, 10, 10, 0]]</answer>",
                    "answer": "[[0, 0, 10, 10, 0]]",
                    "size_group": "small",
                }
            ],
            "paper",
            {"acc@0.5_small": 1.0, "acc@0.5_single": 1.0, "acc@0.5_multiple": 0.0},
        ),
        # VQA per type, sample-weighted average
        (
            "earthdial_rsvqa_lr",
            [
                {"prediction": "yes", "answer": "yes", "vqa_type": "presence"},
                {"prediction": "no", "answer": "yes", "vqa_type": "comp"},
                {"prediction": "yes", "answer": "yes", "vqa_type": "comp"},
                {"prediction": "5", "answer": "5", "vqa_type": "count"},
            ],
            "paper",
            {"presence": 1.0, "comparison": 0.5, "average": 2 / 3},
        ),
    ],
)
def test_protocols(key, rows, protocol, expected):
    rows = [{"id": str(i), **row} for i, row in enumerate(rows)]
    result = _score(key, rows, protocol)
    assert {name: result[name] for name in expected} == pytest.approx(expected)


def _write(tmp_path, rows: list[dict]):
    path = tmp_path / "result.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _rescore(capsys, key: str, path, protocol: str = "paper") -> dict:
    assert score_cli.main(["--task", key, "--predictions", str(path), "--protocol", protocol, "--no-meteor"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("key", "rows", "expected"),
    [
        # rs_classification rows: {question, answer, annotation}
        ("earthdial_whu19", [{"question": "q", "answer": "farmland", "annotation": "Farmland"}], {"accuracy": 1.0}),
        # change-detection suite classification: ground truth in caption0
        (
            "earthdial_xbd_set1",
            [
                {"question": "q", "answer": "flood", "caption0": "flood", "caption1": ""},
                {"question": "q", "answer": "fire", "caption0": "wind", "caption1": ""},
            ],
            {"accuracy": 0.5},
        ),
        # rs_detection rows: {answer, gt_bbox, task_type, size_group}; the duplicate counts twice
        (
            "earthdial_rec_geochat",
            [
                {
                    "question": "q",
                    "answer": "[[83, 58, 87, 62, 37]][[83, 58, 87, 62, 37]]",
                    "gt_bbox": "[[83, 58, 87, 62, 37]]",
                    "task_type": "ref",
                    "size_group": "medium",
                }
            ],
            {"acc@0.5_medium": 1.0, "count_medium": 2, "count_single": 2},
        ),
        # change captioning with caption1 empty: one reference, so an exact answer scores 1
        (
            "earthdial_cc_sysu",
            [{"question": "q", "answer": "new road", **{f"caption{i}": "" for i in range(5)}, "caption0": "new road"}],
            {"rouge1": 1.0, "rougeL": 1.0},
        ),
        # image captioning: all 5 references averaged, empty ones included
        (
            "earthdial_cap_rsicd",
            [{"question": "q", "answer": "new road", **{f"caption{i}": "" for i in range(5)}, "caption0": "new road"}],
            {"rouge1": 0.2, "rougeL": 0.2},
        ),
        # xBD detection rows: predictions' angles zeroed, truths in caption0
        (
            "earthdial_xbd_det",
            [
                {
                    "question": "q",
                    "answer": "[[39, 21, 46, 27, 30]]",
                    "caption0": "[[39, 21, 46, 27, 0]]",
                    "caption1": "",
                }
            ],
            {"precision@0.5": 1.0, "precision@0.25": 1.0},
        ),
        # grounding rows: truths from obj_ids; one match only -> nothing printed upstream (None)
        (
            "earthdial_grounding_nwpu",
            [
                {
                    "question": "q",
                    "answer": "a court [[8, 33, 22, 40, 0]] at left",
                    "groundtruth": "a <ref>court</ref> <box>[[[8, 33, 22, 40, 0]]]</box> at left",
                    "obj_ids": '["[[8, 33, 22, 40, 0]]"]',
                }
            ],
            {"precision@0.5": None, "matched@0.5": 1, "rouge1": 1.0},
        ),
    ],
)
def test_rescoring_earthdial_result_rows(capsys, tmp_path, key, rows, expected):
    result = _rescore(capsys, key, _write(tmp_path, rows))
    assert {name: result[name] for name in expected} == pytest.approx(expected)


def test_rescoring_reads_our_predictions_too(capsys, tmp_path):
    rows = [{"id": "0", "prediction": "forest", "answer": "Forest"}]
    assert _rescore(capsys, "earthdial_aid", _write(tmp_path, rows))["accuracy"] == 1.0


def test_result_row_missing_field_names_file_and_line(capsys, tmp_path):
    path = _write(tmp_path, [{"question": "q", "answer": "x", "annotation": "x"}, {"question": "q", "answer": "y"}])
    assert score_cli.main(["--task", "earthdial_aid", "--predictions", str(path)]) == 1
    assert f"{path}: record 2: EarthDial result row lacks the field 'annotation or caption0'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------
# Loading EarthDial shards and generating over multi-image rows

PNG = io.BytesIO()
Image.new("RGB", (8, 8), (200, 30, 30)).save(PNG, format="PNG")


def _shard(path, rows, *, images=("jpg",), split=None):
    features = {column: datasets.Image() for column in images}
    features.update({key: datasets.Value("string") for key in rows[0] if key not in images})
    dataset = datasets.Dataset.from_dict(
        {key: [row[key] for row in rows] for key in rows[0]}, features=datasets.Features(features)
    )
    if split:
        datasets.DatasetDict({split: dataset}).save_to_disk(str(path))
    else:
        dataset.save_to_disk(str(path))


def _img():
    return {"bytes": PNG.getvalue(), "path": None}


def test_every_synthetic_eval_shard_has_its_task_at_the_same_path():
    # The synthetic writer (offline.synthetic.earthdial) and the tasks must agree on EarthDial's folder layout.
    shards = {s.path.removeprefix(EVAL_ROOT + "/") for s in EARTHDIAL_SHARDS.values() if not s.train}
    assert shards <= {dataset.shard for dataset in DATASETS.values()}


def test_load_classification_shard_with_split(tmp_path):
    question = "Classify the given image in one of the following classes. Classes: Pond, Farmland. "
    _shard(
        tmp_path / "Classification" / "AID",
        [{"jpg": _img(), "question": question, "groundtruth": '"Pond"'}],
        split="test",
    )
    (row,) = TASKS["earthdial_aid"].load(tmp_path)
    assert (row["id"], row["question"], row["answer"], len(row["images"])) == ("0", question, "Pond", 1)


def test_load_bad_rows_become_counted_error_rows(tmp_path):
    # a change-captioning shard with one image column: the task needs two
    folder = tmp_path / DATASETS["earthdial_cc_dubai"].shard
    row = {"jpg_A": _img(), "question": "[changedet] <image> \\n change?", **{f"groundtruth{i}": "x" for i in range(5)}}
    _shard(folder, [row], images=("jpg_A",))
    (bad,) = TASKS["earthdial_cc_dubai"].load(tmp_path)
    assert bad["error"] == f"{folder}: record 1: expected 2 image(s) (jpg_A, jpg_B), got 1"
    # a referring row whose ground truth has no five-number box: the reader's problem, skipped and counted
    folder = tmp_path / DATASETS["earthdial_rec_nwpu"].shard
    good = {"jpg": _img(), "question": " [refer] [hr_rgb_0.5] <image> \\n <ref>car</ref>", "ttype": "ref"}
    _shard(
        folder,
        [
            {**good, "groundtruth": "[[1, 2, 3, 4, 0]]", "size_group": "small"},
            {**good, "groundtruth": "left", "size_group": "small"},
        ],
    )
    first, second = TASKS["earthdial_rec_nwpu"].load(tmp_path)
    assert first["question"] == "[refer] [hr_rgb_0.5] <image> \n Give me the location of <ref>car</ref>"
    assert (first["size_group"], first["task_type"], "error" in first) == ("small", "ref", False)
    assert "record 2" in second["error"] and "unparseable ground-truth box" in second["error"]


def test_missing_shard_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no EarthDial shard for earthdial_ucm"):
        TASKS["earthdial_ucm"].load(tmp_path)


class PairBackend:
    """Answers with the number of images it received per request (multi-image requests reach the backend whole)."""

    name = "pair"

    def generate(self, requests, *, max_new_tokens, stop):
        return [Generation(f"{len(r.images)} images", [28, 28]) for r in requests]


def test_generate_sends_both_images_and_writes_json_rows(tmp_path):
    folder = tmp_path / DATASETS["earthdial_xbd_set1"].shard
    question = "[changedet] [hr_rgb_temp_0.5] <image> <image> \\n Analyze the images."
    _shard(
        folder,
        [{"jpg_A": _img(), "jpg_B": _img(), "question": question, "groundtruth": "flood"}],
        images=("jpg_A", "jpg_B"),
    )
    task = TASKS["earthdial_xbd_set1"]
    settings = {"model": "fake", "prompt_style": None, "reasoning": False, "min_pixels": None, "max_pixels": None}
    generate_task(
        task,
        task.load(tmp_path),
        PairBackend,
        tmp_path / "out",
        prompt=PromptOptions(),
        settings=settings,
        batch_size=2,
        max_new_tokens=10,
    )
    (row,) = read_predictions(tmp_path / "out" / task.key / "predictions.jsonl")
    assert (row["prediction"], row["answer"], "images" in row) == ("2 images", "flood", False)
    assert row["image"] == f"{folder}: row 0"


def test_report_prints_geovlm_r1_paper_numbers_beside_ours():
    from eval.report import markdown

    result = {"paper": {"accuracy": 0.5}, "strict": {"accuracy": 0.25}, "errors": 0, "samples": 2}
    vqa = {"paper": {"average": 0.9, "ci95": {"average": [0.85, 0.95]}}, "strict": {"average": 0.8}, "errors": 0}
    text = markdown({"paper_model": "geovlm_r1", "tasks": {"earthdial_aid": result, "earthdial_rsvqa_lr": vqa}})
    assert "| earthdial_aid | accuracy | 0.5000 | 0.2500 | 0.8846 | - | 0 |" in text  # no interval: nothing to check
    assert "| earthdial_rsvqa_lr | average | 0.9000 [0.8500, 0.9500] | 0.8000 | 0.9266 | yes | 0 |" in text


def test_reasoning_asks_with_the_system_prompt_grpo_trains_under():
    from common.prompts import DEFAULT_SYSTEM, GEOVLM_R1_SYSTEM
    from eval.tasks import TASKS, PromptOptions

    task = TASKS["earthdial_aid"]
    assert task.system(PromptOptions(reasoning=True)) == GEOVLM_R1_SYSTEM  # as grpo.data renders EarthDial rows
    assert task.system(PromptOptions()) == DEFAULT_SYSTEM
