"""Scorers of every task family under both protocols, with the upstream quirks the paper protocol keeps."""

import pytest

from eval.score import score_rows
from eval.tasks import TASKS, ScoreOptions
from eval.tasks.geovlm import boxes_in_pixels
from eval.tasks.samdata import predicted_positive
from eval.tasks.scorers import (
    area_level,
    choice_correct_paper,
    short_answer_correct_paper,
    short_answer_correct_strict,
)

TINYRS = ScoreOptions(style="tinyrs", meteor=False)


# ---------------------------------------------------------------------------------------------------------------
# SAMData


@pytest.mark.parametrize(
    ("caption", "paper", "strict"),
    [
        ("The image shows a military base with revetments.", True, True),
        ("There are no military structures in the image.", True, False),  # negation: a positive only by substring
        ("A paramilitary training camp.", True, False),  # substring inside another word
        ("<reasoning>A missile site?</reasoning><answer>Farmland.</answer>", False, False),  # only the answer counts
        ("<ANSWER>Missile silos are visible.</ANSWER>", True, True),  # tags are case-insensitive (SPEC 6.1)
        ("Crop fields in stripes.", False, False),
        ("", False, False),
    ],
)
def test_samdata_predicted_positive(caption, paper, strict):
    assert predicted_positive(caption, "paper") is paper
    assert predicted_positive(caption, "strict") is strict


def _samdata_rows():
    return [
        {"id": "0_a.png", "image": "/x/0_a.png", "answer": "", "prediction": "A military base."},
        {"id": "1_b.png", "image": "/x/1_b.png", "answer": "", "prediction": "There are no military structures."},
        {"id": "2_c.png", "image": "/x/2_c.png", "answer": "", "prediction": "Farmland."},
        {"id": "2_d.png", "image": "/x/2_d.png", "answer": "", "prediction": "A paramilitary camp."},
        {"id": "1_e.png", "image": "/x/1_e.png", "answer": "", "prediction": "", "error": "image unreadable"},
    ]


def test_samdata_confusion_both_protocols():
    result = score_rows(TASKS["samdata"], _samdata_rows(), TINYRS)
    paper, strict = result["paper"], result["strict"]
    # paper: the failed image is left out; "no military" and "paramilitary" count as positives.
    assert (paper["tp"], paper["fp"], paper["tn"], paper["fn"]) == (2, 1, 1, 0)
    assert paper["precision"] == pytest.approx(2 / 3)
    assert paper["recall"] == 1.0
    assert paper["f1"] == pytest.approx(0.8)
    assert paper["accuracy"] == 0.75
    assert paper["per_category"] == {
        "0": {"correct": 1, "total": 1},
        "1": {"correct": 1, "total": 1},
        "2": {"correct": 1, "total": 2},
    }
    # strict: whole words, negation-aware; the failed military image is a miss.
    assert (strict["tp"], strict["fp"], strict["tn"], strict["fn"]) == (1, 0, 2, 2)
    assert strict["precision"] == 1.0
    assert strict["recall"] == pytest.approx(1 / 3)
    assert strict["f1"] == pytest.approx(0.5)
    assert strict["accuracy"] == pytest.approx(0.6)
    assert strict["per_category"]["1"] == {"correct": 0, "total": 2}
    assert (result["samples"], result["errors"]) == (5, 1)


def test_samdata_zero_denominators_are_zero():
    rows = [{"id": "2_a.png", "image": "2_a.png", "answer": "", "prediction": "Farmland."}]
    paper = TASKS["samdata"].score(rows, "paper", TINYRS)
    assert (paper["precision"], paper["recall"], paper["f1"], paper["accuracy"]) == (0.0, 0.0, 0.0, 1.0)


def test_samdata_rejects_a_name_without_category():
    rows = [{"id": "x.png", "image": "x.png", "answer": "", "prediction": "military"}]
    with pytest.raises(ValueError, match="does not start with 0, 1 or 2"):
        TASKS["samdata"].score(rows, "paper", TINYRS)


# ---------------------------------------------------------------------------------------------------------------
# ScoreRS classification / VQA / LHRS-Bench


@pytest.mark.parametrize(
    ("prediction", "answer", "paper", "strict"),
    [
        ("<reasoning>r</reasoning><answer>Airport</answer>", "airport", True, True),
        ("", "airport", True, False),  # upstream quirk: the empty string is a substring of every answer
        ("Dense residential.", "dense residential", True, True),  # spaces removed on both sides, cut at "."
        ("port", "airport", True, False),  # substring quirk
        ("Yes, there is a road", "yes", True, False),  # cut at the first ","
        ("no", "yes", False, False),
        ("Airport, river", "airport", True, False),
        ("<reasoning>thinking, unfinished", "forest", False, False),  # no closing tag: the whole text is kept
    ],
)
def test_short_answer(prediction, answer, paper, strict):
    assert short_answer_correct_paper(prediction, answer) is paper
    assert short_answer_correct_strict(prediction, answer) is strict


def test_cls_accuracy_and_errors():
    rows = [
        {"id": "0", "answer": "airport", "prediction": "Airport"},
        {"id": "1", "answer": "forest", "prediction": ""},
        {"id": "2", "answer": "river", "prediction": "lake"},
        {"id": "3", "answer": "beach", "prediction": "", "error": "generation failed: OOM"},
    ]
    result = score_rows(TASKS["cls_aid"], rows, TINYRS)
    assert result["paper"] == {"accuracy": pytest.approx(2 / 3), "count": 3}
    assert result["strict"] == {"accuracy": 0.25, "count": 4}
    assert result["errors"] == 1


@pytest.mark.parametrize(
    ("prediction", "answer", "paper", "strict"),
    [
        ("B. Airport", "B", True, False),  # cut at the first "."
        ("b", "B", True, True),
        ("(B)", "B", False, True),  # brackets survive the paper cut, normalise_label trims them
        ("C", "B", False, False),
        ("", "B", True, False),  # empty prediction quirk
    ],
)
def test_lhrs_choice(prediction, answer, paper, strict):
    assert choice_correct_paper(prediction, answer) is paper
    assert short_answer_correct_strict(prediction, answer) is strict


def test_lhrs_categories():
    rows = [
        {"id": "0", "answer": "A", "prediction": "A", "type": ["1"]},
        {"id": "1", "answer": "B", "prediction": "C", "type": ["1", "5"]},
        {"id": "2", "answer": "C", "prediction": "C.", "type": ["5"]},
    ]
    paper = TASKS["lhrs_bench"].score(rows, "paper", TINYRS)
    assert paper == {
        "accuracy": pytest.approx(2 / 3),
        "count": 3,
        "accuracy_identity": 0.5,
        "accuracy_quantity": 0.5,
    }
    strict = TASKS["lhrs_bench"].score(rows, "strict", TINYRS)
    assert strict["accuracy"] == pytest.approx(2 / 3)  # "C." normalises to "c"


# ---------------------------------------------------------------------------------------------------------------
# ScoreRS grounding


@pytest.mark.parametrize(
    ("box", "level"),
    [
        ((0, 0, 32, 32), "small"),  # area 32^2 is still small (upstream compares with >)
        ((0, 0, 33, 32), "medium"),
        ((0, 0, 96, 96), "medium"),
        ((0, 0, 97, 96), "large"),
    ],
)
def test_area_level(box, level):
    assert area_level(box) == level


# Per style: a hit, an unparseable answer, a miss; 100x100 image, ground truth (10, 10, 50, 50) (medium).
GROUNDING_TEXTS = {
    "tinyrs": ("<answer>[[100,100,500,500]]</answer>", "somewhere", "[[600,600,900,900]]"),
    "qwen2vl_instruct": ("0.1 0.1 0.5 0.5", "1 2 3", "600, 600, 900, 900"),  # [0, 1] values are times 1000
    "qwen2vl": ("(100,100),(500,500)", "somewhere", "(600,600),(900,900)"),
}


@pytest.mark.parametrize(
    ("style", "paper_acc", "paper_count"),
    [
        ("tinyrs", 0.5, 2),  # the unparseable answer leaves the denominator (upstream quirk)
        ("qwen2vl_instruct", 0.5, 2),  # likewise
        ("qwen2vl", 1 / 3, 3),  # upstream's Qwen2-VL path counts it as a miss
    ],
)
def test_grounding_protocols(style, paper_acc, paper_count):
    hit, unparseable, miss = GROUNDING_TEXTS[style]
    base = {"answer": "[10, 10, 50, 50]", "size": [100, 100]}
    rows = [
        {"id": "0", **base, "prediction": hit},
        {"id": "1", **base, "prediction": unparseable},
        {"id": "2", **base, "prediction": miss},
        {"id": "3", **base, "prediction": "", "error": "image unreadable"},
    ]
    options = ScoreOptions(style=style)
    paper = TASKS["rs_vg"].score(rows, "paper", options)
    assert paper["acc@0.5"] == pytest.approx(paper_acc)
    assert paper["count"] == paper["count_medium"] == paper_count
    assert paper["acc@0.5_medium"] == pytest.approx(paper_acc)
    assert paper["count_small"] == paper["count_large"] == 0
    strict = TASKS["rs_vg"].score(rows, "strict", options)
    assert strict["acc@0.5"] == 0.25
    assert strict["count"] == 4
    assert strict["unparseable"] == 1


def test_grounding_paper_reads_size_transposed():
    # Upstream unpacks size as (h, w): on a 200x100 image the grid box lands transposed and misses.
    row = {"id": "0", "answer": "[20, 10, 60, 30]", "size": [200, 100], "prediction": "[[100,100,300,300]]"}
    assert TASKS["rs_vg"].score([row], "paper", TINYRS)["acc@0.5"] == 0.0
    assert TASKS["rs_vg"].score([row], "strict", TINYRS)["acc@0.5"] == 1.0


@pytest.mark.parametrize(("reasoning", "hit"), [(True, 1.0), (False, 0.0)])
def test_grounding_qwen2vl_list_fallback_in_reasoning_mode(reasoning, hit):
    row = {"id": "0", "answer": "[10, 10, 50, 50]", "size": [100, 100], "prediction": "[100, 100, 500, 500]"}
    options = ScoreOptions(style="qwen2vl", reasoning=reasoning)
    assert TASKS["rs_vg"].score([row], "paper", options)["acc@0.5"] == hit


# ---------------------------------------------------------------------------------------------------------------
# GeoVLM-R1


def test_geovlm_classification_and_counting():
    rows = [
        {"id": "1", "answer": "farmland", "prediction": "<think>fields</think><answer>Farmland.</answer>"},
        {"id": "2", "answer": "lake", "prediction": "residential area"},
        {"id": "3", "answer": "lake", "prediction": "", "error": "generation failed"},
    ]
    result = score_rows(TASKS["geovlm_classification"], rows, TINYRS)
    assert result["paper"] == {"accuracy": 0.5, "count": 2}
    assert result["strict"] == {"accuracy": pytest.approx(1 / 3), "count": 3}
    counting = [
        {"id": "1", "answer": "4", "prediction": "I count 4 houses"},
        {"id": "2", "answer": "3", "prediction": "2"},
    ]
    assert TASKS["geovlm_counting"].score(counting, "paper", TINYRS)["accuracy"] == 0.5


def test_geovlm_multilabel_f1():
    rows = [{"id": "1", "answer": "house, road, tree", "prediction": "<answer>tree, road, lake</answer>"}]
    assert TASKS["geovlm_multilabel"].score(rows, "paper", TINYRS)["f1"] == pytest.approx(2 * 2 / 6)


@pytest.mark.parametrize(
    ("frame", "prediction", "extra", "hit"),
    [
        ("pixels", "[10, 10, 50, 50]", {}, True),
        ("grid", "[50, 50, 250, 250]", {}, True),  # 0-1000 grid on a 200x200 image
        ("input", "[14, 14, 70, 70]", {"input_size": [280, 280]}, True),  # Qwen2.5-VL resized input
        ("pixels", "[50, 50, 250, 250]", {}, False),
    ],
)
def test_geovlm_referring_frames(frame, prediction, extra, hit):
    row = {"id": "1", "answer": "[10, 10, 50, 50]", "size": [200, 200], "prediction": prediction, **extra}
    metrics = TASKS["geovlm_referring_detection"].score([row], "paper", ScoreOptions(box_frame=frame))
    assert metrics["acc@0.5"] == float(hit)
    assert metrics["acc@0.5_medium"] == float(hit)
    assert metrics["count_single"] == 1


def test_geovlm_referring_multiple_needs_every_box():
    row = {"id": "1", "answer": "[0, 0, 10, 10], [50, 50, 60, 60]", "size": [100, 100], "prediction": "[0, 0, 10, 10]"}
    metrics = TASKS["geovlm_referring_detection"].score([row], "paper", TINYRS)
    assert (metrics["acc@0.5"], metrics["count_multiple"], metrics["count_single"]) == (0.0, 1, 0)


def test_geovlm_input_frame_needs_input_size():
    row = {"id": "1", "answer": "[1, 1, 5, 5]", "size": [10, 10], "prediction": "[1, 1, 5, 5]"}
    with pytest.raises(ValueError, match="input_size"):
        boxes_in_pixels(row["prediction"], row, "input")


def test_geovlm_detection_map():
    rows = [
        {"id": "1", "answer": "[0, 0, 10, 10], [20, 20, 30, 30]", "prediction": "[0, 0, 10, 10], [50, 50, 60, 60]"},
        {"id": "2", "answer": "[0, 0, 10, 10]", "prediction": "[1, 1, 10, 10]"},  # IoU 0.81
    ]
    metrics = TASKS["geovlm_detection"].score(rows, "paper", TINYRS)
    assert metrics["mAP@0.5"] == pytest.approx((0.5 + 1.0) / 2)


def test_geovlm_captioning_rouge():
    rows = [{"id": "1", "answer": "two planes on the apron", "prediction": "<answer>two planes on the apron</answer>"}]
    metrics = TASKS["geovlm_captioning"].score(rows, "paper", TINYRS)
    assert (metrics["rouge_1"], metrics["rouge_l"]) == (1.0, 1.0)
    assert "meteor" not in metrics  # switched off in TINYRS options


@pytest.mark.parametrize("module", ["eval.tasks.samdata", "eval.tasks.scorers"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
