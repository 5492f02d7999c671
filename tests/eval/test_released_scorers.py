"""ScoreRS grounding exactly as released (issue 10): the Qwen2-VL reasoning-mode list syntax and the grid-to-pixel
rounding `p * w / 1000`, checked against values read from the released scorer (aybora/TinyRS ff524f4,
eval/python_script/evaluation/rs_evaluation.py and eval/src/evaluation/lm_prediction_call.py; SPEC 6.2)."""

import pytest

from common.parsing import parse_box, scale_box
from eval.tasks import TASKS, ScoreOptions
from eval.tasks.scorers import predicted_box

QWEN2VL_REASONING = ScoreOptions(style="qwen2vl", reasoning=True)


def grounding(rows, protocol, options):
    return TASKS["rs_vg"].score(rows, protocol, options)


# ---------------------------------------------------------------------------------------------------------------
# 1. The Qwen2-VL reasoning fallback `[a, b, c, d]` accepts only what upstream's pattern accepts


def test_issue_case_spaced_commas_are_unparseable():
    # Upstream cannot parse it: for the Qwen2-VL style an unparseable prediction is a miss (kept in the count).
    row = {
        "id": "0",
        "answer": "[290,467,480,596]",
        "size": [1000, 600],
        "prediction": "<answer>[487 , 469 , 806 , 592]</answer>",
    }
    metrics = grounding([row], "paper", QWEN2VL_REASONING)
    assert (metrics["acc@0.5"], metrics["count"], metrics["unparseable"]) == (0.0, 1, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[100, 200, 300, 400]", (100.0, 200.0, 300.0, 400.0)),  # comma then a space
        ("[100,200,300,400]", (100.0, 200.0, 300.0, 400.0)),  # comma, no space
        ("[100,\n200,\t300,  400]", (100.0, 200.0, 300.0, 400.0)),  # any whitespace after a comma
        ("[10.5, 20, 30.25, 40]", (10.5, 20.0, 30.25, 40.0)),  # unsigned decimals
        ("[[100, 200, 300, 400]]", (100.0, 200.0, 300.0, 400.0)),  # the inner list of a double bracket
        ("[1, 2, 3] then [5, 6, 7, 8]", (5.0, 6.0, 7.0, 8.0)),  # the first complete four-number list
        ("(1,2),(3,4) and [5, 6, 7, 8]", (1.0, 2.0, 3.0, 4.0)),  # the (x1,y1),(x2,y2) form is tried first
        ("[487 , 469 , 806 , 592]", None),  # a space before a comma
        ("[ 100, 200, 300, 400]", None),  # a space after "["
        ("[100, 200, 300, 400 ]", None),  # a space before "]"
        ("[100 200 300 400]", None),  # space-separated
        ("[-100, 200, 300, 400]", None),  # signed
        ("[100, -200, 300, 400]", None),
        ("[.5, 200, 300, 400]", None),  # a decimal needs its integer part
        ("[100, 200, 300]", None),  # three numbers
    ],
)
def test_qwen2vl_reasoning_fallback_syntax(text, expected):
    assert predicted_box(f"<answer>{text}</answer>", "qwen2vl", reasoning=True) == expected


def test_fallback_only_in_reasoning_mode():
    assert predicted_box("[100, 200, 300, 400]", "qwen2vl", reasoning=False) is None
    assert parse_box("[100, 200, 300, 400]", "qwen2vl_list") == (100.0, 200.0, 300.0, 400.0)


# ---------------------------------------------------------------------------------------------------------------
# 2. Grid-to-pixel scaling `p * w / 1000`, in this order of operations


@pytest.mark.parametrize(
    ("style", "prediction"),
    [
        ("tinyrs", "<answer>[[380, 768, 650, 854]]</answer>"),  # the issue's case
        ("qwen2vl_instruct", "<answer>[380, 768, 650, 854]</answer>"),
        ("qwen2vl", "<answer>(380,768),(650,854)</answer>"),
    ],
)
def test_issue_case_exact_half_iou_is_a_hit_in_every_style(style, prediction):
    # Paper reads size [1000, 700] as (h, w): x1 = 380 * 700 / 1000 = 266.0 exactly (not 265.99999999999997), so
    # the IoU with [266, 768, 644, 854] is exactly 189 / 378 = 0.5: a hit, as upstream scores it.
    row = {"id": "0", "answer": "[266,768,644,854]", "size": [1000, 700], "prediction": prediction}
    assert grounding([row], "paper", ScoreOptions(style=style))["acc@0.5"] == 1.0


def test_strict_protocol_shares_the_scale_rule():
    # Strict reads size as [w, h]: the same tie with the size given the other way round.
    row = {"id": "0", "answer": "[266,768,644,854]", "size": [700, 1000], "prediction": "[[380, 768, 650, 854]]"}
    assert grounding([row], "strict", ScoreOptions(style="tinyrs"))["acc@0.5"] == 1.0


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        (380, 700, 266.0),  # 380 * (700 / 1000) = 265.99999999999997
        (3, 700, 2.1),  # 3 * (700 / 1000) = 2.0999999999999996
        (650, 700, 455.0),
        (1000, 700, 700.0),
        (0, 700, 0.0),
        (333, 1000, 333.0),  # an identity scale stays exact
        (487, 600, 292.2),
    ],
)
def test_scale_box_multiplies_before_it_divides(value, size, expected):
    box = scale_box((value, value, value, value), (1000, 1000), (size, size))
    assert box == (expected,) * 4
    assert box[0] == value * size / 1000


def test_scale_box_other_frames():
    # Qwen2.5-VL input frame back to pixels (eval.tasks.geovlm, grpo.rewards.geovlm): the same rule, per axis.
    assert scale_box((14, 28, 56, 84), (112, 84), (640, 480)) == (80.0, 160.0, 320.0, 480.0)
    with pytest.raises(ValueError, match="from_size must be positive"):
        scale_box((0, 0, 1, 1), (0, 1000), (10, 10))
