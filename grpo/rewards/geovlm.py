"""GeoVLM-R1 task-aware accuracy: one rule per task, from VLM-R1 (SPEC 5).

GeoVLM-R1 does not publish its reward formulas; SPEC 5 fixes these, taken from VLM-R1, and each is built from the
functions the GeoVLM evaluation reports with (common.metrics, eval.tasks.geovlm), so that a reward and the metric of
the same task read the same answer the same way:

| task (or reward_method) | reward | eval metric (SPEC 6.3) |
|---|---|---|
| classification, vqa | exact match after `normalise_label`; 0 when more than one class name is given | accuracy |
| yes_no | the yes/no of the answer equals the solution's | (vqa accuracy) |
| multiple_choice | the choice letter equals the solution's | (LHRS-style accuracy) |
| multilabel | F1 of the label sets | mean F1 |
| counting | the first number equals the true count | accuracy |
| referring_detection | mean IoU of the true boxes with the first n_true predicted boxes, matched one-to-one | acc@0.5 / 0.25 |
| detection | AP@0.5 of the boxes in the order given x min(1, n_true / n_predicted) | mAP@0.5 |
| captioning | ROUGE-L F-measure, or METEOR (caption_metric) | ROUGE-1, ROUGE-L, METEOR |

Predicted boxes are mapped to image pixels by `box_frame` with common.parsing's `boxes_to_pixels` (pixels: as given; grid:
Qwen2-VL's 0-1000 grid, using `image_size`; input: Qwen2.5-VL's resized input, using `input_size` and
`image_size`). True boxes are `[x1, y1, x2, y2]` in image pixels. A solution the rule cannot read (no box, no
number, no yes/no, no letter) gives None: the row has nothing to be scored against.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common.metrics import average_precision, count_match, exact_match, matched_ious, meteor, multilabel_f1, rouge_l
from common.parsing import (
    answer_boxes,
    boxes_to_pixels,
    first_number,
    normalise_label,
    parse_boxes,
    parse_choice,
    parse_yes_no,
    split_labels,
)
from common.vocabulary import GEOVLM_TASKS

from .base import BatchRule, Context, Row, Value, answer_of, per_sample, solution_of

# "Classes: a, b, c." in a classification question (the synthetic GeoVLM data and the usual EO prompts): the list
# ends at the first full stop followed by a space, at a newline, or at the end of the question.
_CLASSES_RE = re.compile(r"\bclasses:\s*([^\n]*?)(?:\.(?=\s)|\.?$|\n)", re.IGNORECASE)


def class_list(question: str) -> list[str]:
    """The class names a question offers after "Classes:", normalised, in order; [] when it offers none.

    Names are comma-separated; " and " inside a name is kept ("road and bridge" may be one class).

    >>> class_list("Classify the image. Classes: missile site, farmland, Lake. Answer with one word.")
    ['missile site', 'farmland', 'lake']
    """
    match = _CLASSES_RE.search(question)
    if not match:
        return []
    names = (normalise_label(name) for name in match.group(1).split(","))
    return list(dict.fromkeys(name for name in names if name))


def named_classes(answer: str, classes: Sequence[str]) -> list[str]:
    """The classes an answer names as whole phrases, longest first, so that a class inside a longer one that the
    answer names ("residential" in "dense residential") is not counted twice.

    >>> named_classes("Farmland, or maybe a lake.", ["farmland", "lake", "missile site"])
    ['farmland', 'lake']
    >>> named_classes("dense residential", ["residential", "dense residential"])
    ['dense residential']
    """
    text = " ".join(answer.lower().split())
    found = []
    for name in sorted(set(classes), key=len, reverse=True):
        pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
        if pattern.search(text):
            found.append(name)
            text = pattern.sub("\n", text)
    return found


def label_reward(answer: str, solution: str, question: str = "") -> float:
    """Classification and VQA: exact match after `normalise_label` (the eval accuracy), and 0.0 when the answer
    gives more than one class name, from VLM-R1 (SPEC 5).

    Class names are counted against the question's "Classes: ..." list when it has one, else as the answer's
    comma / semicolon / " and " separated labels. Under exact match the gate changes a score only where the true
    label itself reads as several labels: without a class list, "road and bridge" counts as two names and scores
    0.0; with "Classes: forest, road and bridge" it is one class and scores 1.0.

    >>> label_reward("Farmland", "farmland")
    1.0
    >>> label_reward("road and bridge", "road and bridge")
    0.0
    >>> label_reward("road and bridge", "road and bridge", "Classes: forest, road and bridge.")
    1.0
    """
    classes = class_list(question)
    names = named_classes(answer, classes) if classes else split_labels(answer)
    if len(names) > 1:
        return 0.0
    return exact_match(answer, solution)


def yes_no_reward(answer: str, solution: str) -> Value:
    """Yes / no questions, from VLM-R1 (SPEC 5): the answer's yes / no (`parse_yes_no`: the leading word, else the
    only one of the two it contains) equals the solution's; None when the solution is neither.

    >>> yes_no_reward("Yes, there is a runway.", "yes")
    1.0
    >>> yes_no_reward("Maybe.", "no")
    0.0
    """
    truth = parse_yes_no(solution)
    if truth is None:
        return None
    return float(parse_yes_no(answer) == truth)


def choice_reward(answer: str, solution: str) -> Value:
    """Multiple choice, from VLM-R1 (SPEC 5): the answer's choice letter (`parse_choice`: "B", "(B)", "B. Airport",
    "the answer is B") equals the solution's; None when the solution names no letter.

    >>> choice_reward("(C) Harbour", "C")
    1.0
    >>> choice_reward("A large airport", "A")
    0.0
    """
    truth = parse_choice(solution)
    if truth is None:
        return None
    return float(parse_choice(answer) == truth)


def count_reward(answer: str, solution: str) -> Value:
    """Counting, from VLM-R1 (SPEC 5): the first number of the answer equals the true count (`count_match`, the
    eval accuracy); None when the solution has no number.

    >>> count_reward("There are 7 planes.", "7")
    1.0
    """
    if first_number(solution) is None:
        return None
    return count_match(answer, solution)


def _pixel_boxes(answer: str, row: Row, frame: str) -> list:
    # eval's helper names the image size "size"; the GRPO columns are image_size / input_size (grpo/data.py).
    size, input_size = row.get("image_size"), row.get("input_size")
    if frame != "pixels" and not size:
        raise ValueError(f"box_frame {frame!r} needs the row's image_size [width, height]")
    if frame == "input" and not input_size:
        raise ValueError("box_frame 'input' needs the row's input_size [width, height] (the image as resized)")
    return boxes_to_pixels(answer_boxes(answer), frame, size, input_size)


def referring_reward(answer: str, solution: str, row: Row, frame: str = "pixels") -> Value:
    """Referring detection: continuous IoU, from VLM-R1 (SPEC 5), which scores the IoU of the first predicted box
    with the true box. For n true boxes, the first n predicted boxes (in image pixels) are matched one-to-one as
    eval's acc@t matches them (`common.metrics.matched_ious`) and their IoUs averaged; boxes after the first n are
    ignored, so listing many boxes cannot raise the reward. None when the solution has no box.

    >>> referring_reward("[0, 0, 10, 10] [0, 0, 20, 20]", "[0, 0, 20, 20]", {})
    0.25
    >>> referring_reward("[0, 0, 100, 100]", "[0, 0, 20, 40]", {"image_size": [200, 400]}, frame="grid")
    1.0
    """
    truths = parse_boxes(solution)
    if not truths:
        return None
    predictions = _pixel_boxes(answer, row, frame)[: len(truths)]
    ious = matched_ious(predictions, truths)
    return sum(ious) / len(ious)


def detection_reward(answer: str, solution: str, row: Row, frame: str = "pixels") -> float:
    """Multi-box detection: AP@0.5 of the predicted boxes (in the order given; `average_precision`, the eval
    mAP's per-image AP) times the count penalty min(1, n_true / n_predicted), from VLM-R1 (SPEC 5). A solution
    without boxes means an empty scene: 1.0 for no boxes, 0.0 otherwise.

    >>> detection_reward("[0, 0, 10, 10], [50, 50, 60, 60]", "[0, 0, 10, 10]", {})
    0.5
    """
    truths = parse_boxes(solution)
    predictions = _pixel_boxes(answer, row, frame)
    penalty = min(1.0, len(truths) / len(predictions)) if predictions else 1.0
    return average_precision(predictions, truths, 0.5) * penalty


def _label_rule(text: str, row: Row, context: Context) -> Value:
    return label_reward(answer_of(text, context), solution_of(row), str(row.get("question") or ""))


def _yes_no_rule(text: str, row: Row, context: Context) -> Value:
    return yes_no_reward(answer_of(text, context), solution_of(row))


def _choice_rule(text: str, row: Row, context: Context) -> Value:
    return choice_reward(answer_of(text, context), solution_of(row))


def _multilabel_rule(text: str, row: Row, context: Context) -> Value:
    """Multi-label classification, from VLM-R1 (SPEC 5): F1 of the answer's and the solution's label sets
    (`multilabel_f1`, the eval metric)."""
    return multilabel_f1(answer_of(text, context), solution_of(row))


def _count_rule(text: str, row: Row, context: Context) -> Value:
    return count_reward(answer_of(text, context), solution_of(row))


def _referring_rule(text: str, row: Row, context: Context) -> Value:
    return referring_reward(answer_of(text, context), solution_of(row), row, context.options.box_frame)


def _detection_rule(text: str, row: Row, context: Context) -> Value:
    return detection_reward(answer_of(text, context), solution_of(row), row, context.options.box_frame)


def caption_rule(texts: Sequence[str], rows: Sequence[Row], context: Context) -> list[Value]:
    """Captioning: ROUGE-L F-measure (rouge-score, stemmed) or METEOR 1.5 (pycocoevalcap; one JVM call for the
    batch) of the answer against the solution caption, per `caption_metric`, from VLM-R1 (SPEC 5)."""
    answers = [answer_of(text, context) for text in texts]
    references = [solution_of(row) for row in rows]
    if context.options.caption_metric == "meteor":
        return list(meteor(answers, references))
    return [rouge_l(answer, reference) for answer, reference in zip(answers, references, strict=True)]


# Task name (the row's reward_method, else its task) -> rule. "vqa" shares the classification rule (SPEC 5).
GEOVLM_RULES: dict[str, BatchRule] = {
    "classification": per_sample(_label_rule),
    "vqa": per_sample(_label_rule),
    "yes_no": per_sample(_yes_no_rule),
    "multiple_choice": per_sample(_choice_rule),
    "multilabel": per_sample(_multilabel_rule),
    "counting": per_sample(_count_rule),
    "referring_detection": per_sample(_referring_rule),
    "detection": per_sample(_detection_rule),
    "captioning": caption_rule,
}
# One rule per name of the vocabulary (common.vocabulary.GEOVLM_TASKS, which the readers check records against), in its
# order: a name without a rule would train with no accuracy reward, silently.
if tuple(GEOVLM_RULES) != GEOVLM_TASKS:
    raise ImportError(f"GEOVLM_RULES {tuple(GEOVLM_RULES)} differ from common.vocabulary.GEOVLM_TASKS {GEOVLM_TASKS}")
