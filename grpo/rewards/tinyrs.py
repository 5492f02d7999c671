"""TinyRS-R1 typed accuracy (SPEC 5): exact short answers, box IoU, and the LLM judge for open-ended answers.

Upstream dispatched on a positional magic code (`solution[0]` "0" / "1" / "2"); grpo/data.py maps those codes to
the task names "open_ended", "short_answer" and "bbox" once, at load time (STYLE.md 4).
"""

from __future__ import annotations

import re

from common.parsing import box_iou, first_ints, parse_box

from .base import Context, Row, Value, answer_of, solution_of, unit

SHORT_ANSWER, BBOX, OPEN_ENDED = "short_answer", "bbox", "open_ended"


def short_answer_reward(answer: str, solution: str) -> float:
    """SPEC 5, answer type "1": 1.0 when answer.lower() without "." equals the solution stripped, lower-cased and
    without ".". Not the ScoreRS scorers' rules (eval.tasks.scorers: substring for the paper protocol,
    `normalise_label` for the strict one): TinyRS trained with this one.

    >>> short_answer_reward("Dense residential.", " dense residential")
    1.0
    >>> short_answer_reward("dense residential area", "dense residential")
    0.0
    """
    return float(answer.lower().replace(".", "") == solution.strip().lower().replace(".", ""))


def box_reward(answer: str, solution: str, iou_mode: str = "correct") -> Value:
    """SPEC 5, answer type "2": IoU of the first four integers of the answer (`first_ints`, upstream's `\\d+` runs)
    with the true box `[x1, y1, x2, y2]` of the solution, both corner format on the same scale.

    0.0 when the answer has fewer than four integers; None when the solution holds no box (nothing to compare).
    iou_mode "upstream" reproduces the released reward's bug (SPEC 7.5), for ablations only: it compared the
    predicted box with itself, through an IoU that is otherwise intact, so the true box's values are never read.

    >>> box_reward("<answer>[10, 10, 20, 20]</answer>", "[10, 10, 20, 30]")
    0.5
    >>> box_reward("[500, 500, 900, 900]", "[10, 10, 20, 30]", iou_mode="upstream")
    1.0
    >>> box_reward("[852, 712, 72, 729]", "[10, 10, 20, 30]", iou_mode="upstream")
    0.0
    """
    predicted = first_ints(answer, 4)
    if iou_mode == "upstream":
        return _upstream_self_iou(predicted, solution)
    truth = parse_box(solution)
    if truth is None:
        return None
    if predicted is None:
        return 0.0
    try:
        box = tuple(float(v) for v in predicted)
    except OverflowError:  # a digit run beyond float range: no real box
        return 0.0
    return box_iou(box, truth)  # type: ignore[arg-type]  # four values


def _upstream_self_iou(predicted: list[int] | None, solution: str) -> float:
    """The released type-"2" reward: IoU of the predicted box (first four `\\d+` of the answer) with itself.

    Its IoU takes the intersection as max(0, x2 - x1) * max(0, y2 - y1), each area as (x2 - x1) * (y2 - y1), and
    scores 0 when the union (2 * area - intersection) is not positive. Against itself that is exactly 1 for a box
    with x2 > x1 and y2 > y1, and 0 otherwise (zero width or height: zero union; one side inverted: negative area;
    both inverted: zero intersection over a positive union). The true box is only read for being non-empty: a
    solution without any digit made its slicing raise, which scored 0, as did an answer with fewer than four
    integers. Integers stay exact (no float conversion), as in Python's own arithmetic upstream.
    """
    if predicted is None or re.search(r"\d", solution) is None:
        return 0.0
    x1, y1, x2, y2 = predicted
    return 1.0 if x2 > x1 and y2 > y1 else 0.0


def short_answer_rule(text: str, row: Row, context: Context) -> Value:
    return short_answer_reward(answer_of(text, context), solution_of(row))


def bbox_rule(text: str, row: Row, context: Context) -> Value:
    answer = answer_of(text, context)
    return box_reward(answer, solution_of(row), context.options.iou_mode)


def open_ended_rule(text: str, row: Row, context: Context) -> Value:
    """SPEC 5, answer type "0": the injected judge's 0-10 grade / 10 of the extracted answer, given the question
    and the row's first image. None without a judge (policy "skip", or offline scoring); `judge_failure_value`
    when the judge gives no score.

    A TinyRS row carries its stored `upstream_solution` [answer_type, answer, question, image_base64]: the judge
    gets upstream's question (solution[2]) and the dataset's own base64 image (solution[3]), as the released
    reward sent them."""
    if context.judge is None:
        return None
    images = row.get("images") or []
    upstream = row.get("upstream_solution")
    upstream = upstream if isinstance(upstream, (list, tuple)) and len(upstream) == 4 else None
    score = context.judge.score(
        question=str(upstream[2] if upstream else row.get("question") or ""),
        answer=answer_of(text, context),
        image=images[0] if images else None,
        image_base64=upstream[3] if upstream else None,
    )
    value = unit(score)
    return value if value is not None else context.options.judge_failure_value
