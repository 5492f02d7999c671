"""GeoVLM-R1 rewards on EarthDial data: one rule per task family, built on the EarthDial scorers (common.earthdial),
so that a reward and the EarthDial-Bench metric of its family read an answer the same way.

GeoVLM-R1 names its rewards (task-aware accuracy, a "Jaccard reward" for VQA, "HSLR" for change captions) but
publishes no formula (EARTHDIAL.md 5). These are ours, each a stated choice:

| task (the row's `task`) | reward | its EarthDial metric |
|---|---|---|
| classification, temporal_classification, region_classification | token recall (the metric), 0 when the answer names several of the offered classes | accuracy (token recall) |
| vqa | token-set Jaccard: shared tokens / all tokens of answer and reference | presence / comparison / rural_urban |
| multilabel | F1 of the label sets (the strict protocol's metric: token recall is capped by commas) | token recall |
| referring_detection, referred_detection | mean rotated IoU of the true boxes, matched one-to-one with the first n predicted boxes | acc@0.5 per group |
| detection | one-to-one matches at IoU >= 0.5 / n_true x min(1, n_true / n_predicted) | precision@0.25 / 0.5 |
| image_captioning, change_captioning | mean of ROUGE-1 F and ROUGE-L F, each averaged over the references (the metric's computation) | ROUGE-1 / ROUGE-L / METEOR |
| region_captioning | mean of ROUGE-1 F and ROUGE-L F of the raw strings (the metric's computation) | ROUGE-1 / ROUGE-L / METEOR |
| grounding_description | mean of the box score (one-to-one matches at IoU >= 0.5 / max(n_predicted, n_true)) and the description's ROUGE-L F, both texts cleaned of refs and boxes | P@0.5 / 0.25, ROUGE, METEOR |

Why these:
- The several-classes gate: EarthDial's token recall scores `Airport, Port` 1.0 against `airport` (EARTHDIAL 3.1),
  which a policy would learn to exploit by listing every class. The gate counts the classes the question offers
  ("Classes: ...", "Options: ...", "Please answer yes or no", "... none, one, two or many") that the answer names.
- Jaccard for VQA: recall alone rewards extra words; the set ratio penalises them, and equals the metric (1 or 0)
  on single-word answers.
- Boxes: EarthDial's precision over predicted boxes costs nothing for an empty answer and rewards duplicates of one
  true box; a one-to-one match over the true boxes (referring: continuous IoU; detection: the 0.5 hit with the
  VLM-R1 count penalty) has neither hole. Boxes are read with the lenient five-number reader on the 0-100 grid;
  4-number boxes score nothing, as in every EarthDial scorer.
- "HSLR" is unpublished: our caption reward is ROUGE-1 and ROUGE-L exactly as the caption metrics compute them.
  METEOR is left out of the reward because it needs WordNet data, which a training machine may lack.

Every rule reads the `<answer>` content (common.parsing.extract_answer) and returns a value in [0, 1], or None when
the row has nothing to score against (no true box, no reference).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common import earthdial
from common.metrics import multilabel_f1
from common.parsing import normalise_label

from .base import BatchRule, Context, Row, Value, answer_of, per_sample, solution_of

CLASSIFICATION_TASKS = ("classification", "temporal_classification", "region_classification")
REFERRING_TASKS = ("referring_detection", "referred_detection")
CAPTION_TASKS = ("image_captioning", "change_captioning")
HIT_IOU = 0.5  # a detected or grounded box counts at EarthDial's main threshold

# The offered answers of an EarthDial question: "Classes: a, b." / "Options:  a, b." lists (ending at a full stop
# before a space or the literal `\n`, or at the end), and "answer yes or no" / "answer none, one, two or many".
_LIST_RE = re.compile(r"\b(?:classes|options):\s*(.*?)(?:\.(?=\s|\\n|\"|$)|\\n|$)", re.IGNORECASE)
_ANSWER_RE = re.compile(r"\banswer\s+((?:\w[\w-]*)(?:(?:\s*,\s*|\s+or\s+)\w[\w-]*)+)\s*\.", re.IGNORECASE)


def offered_classes(question: str) -> list[str]:
    """The answers an EarthDial question offers, normalised, in order; [] when it offers none.

    >>> offered_classes("[hr_rgb_0.5]  <image> \\\\n Classify ... Classes:  river, pond. \\\\nAnswer in one word.")
    ['river', 'pond']
    >>> offered_classes('Are there any buildings affected? Please answer yes or no."')
    ['yes', 'no']
    >>> offered_classes('How many? Please answer none, one, two or many."')
    ['none', 'one', 'two', 'many']
    """
    match = _LIST_RE.search(question)
    if match:
        names = match.group(1).split(",")
    else:
        match = _ANSWER_RE.search(question)
        if not match:
            return []
        names = re.split(r"\s*,\s*|\s+or\s+", match.group(1))
    cleaned = (normalise_label(name) for name in names)
    return list(dict.fromkeys(name for name in cleaned if name))


def named_classes(answer: str, classes: Sequence[str]) -> list[str]:
    """The offered classes an answer names, compared as the metric compares (lower case, every space removed), so
    "dense residential" names `denseresidential`. Longest first, each found name cut out of the answer, so a class
    inside a longer one it names ("port" in "airport") is not counted again.

    >>> named_classes("Airport", ["airport", "port"])
    ['airport']
    >>> named_classes("dense residential or river", ["river", "denseresidential"])
    ['denseresidential', 'river']
    """
    text = "".join(answer.lower().split())
    found = []
    for name in sorted({"".join(c.split()) for c in classes}, key=len, reverse=True):
        if name and name in text:
            found.append(name)
            text = text.replace(name, "\n")
    return found


def classification_reward(answer: str, solution: str, question: str = "") -> float:
    """EarthDial's token recall of the answer against the label, and 0.0 when the answer names more than one of
    the classes the question offers.

    >>> classification_reward("Medium Residential", "MediumResidential")
    1.0
    >>> classification_reward("airport, port", "airport", "Classes: airport, port, beach.")
    0.0
    >>> classification_reward("yes", "yes", 'Please answer yes or no."')
    1.0
    """
    if len(named_classes(answer, offered_classes(question))) > 1:
        return 0.0
    return earthdial.token_recall(solution, answer)


def _tokens(text: str) -> set[str]:
    return set(earthdial.word_tokenize(text.strip().lower()))


def jaccard_reward(answer: str, solution: str) -> float:
    """Token-set Jaccard |A & B| / |A | B| of the lower-cased word tokens; 0 for two empty texts.

    >>> jaccard_reward("Yes", "yes")
    1.0
    >>> jaccard_reward("yes no", "yes")
    0.5
    """
    truth, guess = _tokens(solution), _tokens(answer)
    union = truth | guess
    return len(truth & guess) / len(union) if union else 0.0


def _matched_ious(predictions: Sequence[Sequence[float]], truths: Sequence[Sequence[float]]) -> list[float]:
    """One IoU per true box: pairs taken in decreasing rotated IoU, each box used once, unmatched truths 0."""
    pairs = sorted(
        ((earthdial.rotated_iou(p, t), i, j) for i, p in enumerate(predictions) for j, t in enumerate(truths)),
        reverse=True,
    )
    best = [0.0] * len(truths)
    used: set[int] = set()
    for iou, i, j in pairs:
        if iou <= 0:
            break
        if i not in used and best[j] == 0.0:
            best[j] = iou
            used.add(i)
    return best


def referring_reward(answer: str, solution: str) -> Value:
    """Mean rotated IoU of the n true boxes with the first n predicted boxes, matched one-to-one (boxes after the
    first n are ignored, so listing many cannot raise it); None when the solution has no box.

    >>> referring_reward("[[0, 0, 10, 10, 0]][[50, 50, 60, 60, 0]]", "[[0, 0, 10, 10, 0]]")
    1.0
    >>> referring_reward("[[0, 0, 10, 10]]", "[[0, 0, 10, 10, 0]]")  # four numbers: no box
    0.0
    """
    truths = earthdial.parse_rotated_boxes(solution)
    if not truths:
        return None
    predictions = earthdial.parse_rotated_boxes(answer)[: len(truths)]
    ious = _matched_ious(predictions, truths)
    return sum(ious) / len(ious)


def detection_reward(answer: str, solution: str) -> float:
    """One-to-one hits at rotated IoU >= 0.5 over the true boxes, times the count penalty min(1, n_true / n_pred):
    missing boxes and extra boxes both cost. A solution without boxes: 1.0 for no boxes, else 0.0.

    >>> detection_reward("[[0, 0, 10, 10, 0]][[0, 0, 10, 10, 0]]", "[[0, 0, 10, 10, 0]]")  # a duplicate costs
    0.5
    >>> detection_reward("[[0, 0, 10, 10, 0]]", "[[0, 0, 10, 10, 0]][[20, 20, 30, 30, 0]]")  # a miss costs
    0.5
    """
    truths = earthdial.parse_rotated_boxes(solution)
    predictions = earthdial.parse_rotated_boxes(answer)
    if not truths:
        return 0.0 if predictions else 1.0
    if not predictions:
        return 0.0
    recall = earthdial.match_one_to_one(predictions, truths, HIT_IOU) / len(truths)
    return recall * min(1.0, len(truths) / len(predictions))


def caption_reward(answer: str, references: Sequence[str]) -> Value:
    """(ROUGE-1 F + ROUGE-L F) / 2, each averaged over the references after word_tokenize, as EarthDial's image and
    change-caption metrics compute them; None without a reference.

    >>> caption_reward("a plane on the runway", ["a plane on the runway"])
    1.0
    """
    references = [r for r in references if r is not None]
    if not references:
        return None
    rouge1, rouge_l = earthdial.rouge_multi(answer, references)
    return (rouge1 + rouge_l) / 2


def region_caption_reward(answer: str, reference: str) -> float:
    """(ROUGE-1 F + ROUGE-L F) / 2 of the raw strings against the one reference, as the region-caption metric.

    >>> region_caption_reward("1 white small vehicle at the left", "1 white small vehicle at the left")
    1.0
    """
    scores = earthdial.rouge_prf(reference, answer)
    return (scores["rouge1_f"] + scores["rougeL_f"]) / 2


def grounding_reward(answer: str, description: str, obj_ids: str | None) -> Value:
    """Half the boxes (one-to-one hits at IoU >= 0.5 / max(n_predicted, n_true)), half the description (ROUGE-L F
    of both texts with refs and boxes removed, as the grounding metric cleans them); None without true boxes.

    >>> truth = "there is <ref>1 car</ref> <box>[[[0, 0, 10, 10, 0]]]</box> at left"
    >>> grounding_reward("there is 1 car [[0, 0, 10, 10, 0]] at left", truth, '["[[0, 0, 10, 10, 0]]"]')
    1.0
    """
    truths = earthdial.parse_rotated_boxes(obj_ids or "")
    if not truths:
        return None
    predictions = earthdial.parse_rotated_boxes(answer)
    boxes = earthdial.match_one_to_one(predictions, truths, HIT_IOU) / max(len(predictions), len(truths))
    cleaned = earthdial.rouge_prf(earthdial.clean_description(description), earthdial.clean_description(answer))
    return (boxes + cleaned["rougeL_f"]) / 2


# ---------------------------------------------------------------------------------------------------------------
# Rules over dataset rows (grpo/data.py columns: solution, references, obj_ids, question, task)


def _classification_rule(text: str, row: Row, context: Context) -> Value:
    return classification_reward(answer_of(text, context), solution_of(row), str(row.get("question") or ""))


def _vqa_rule(text: str, row: Row, context: Context) -> Value:
    return jaccard_reward(answer_of(text, context), solution_of(row))


def _multilabel_rule(text: str, row: Row, context: Context) -> Value:
    return multilabel_f1(answer_of(text, context), solution_of(row))


def _referring_rule(text: str, row: Row, context: Context) -> Value:
    return referring_reward(answer_of(text, context), solution_of(row))


def _detection_rule(text: str, row: Row, context: Context) -> Value:
    return detection_reward(answer_of(text, context), solution_of(row))


def _caption_rule(text: str, row: Row, context: Context) -> Value:
    references = row.get("references") or [row.get("solution")]
    return caption_reward(answer_of(text, context), references)


def _region_rule(text: str, row: Row, context: Context) -> Value:
    return region_caption_reward(answer_of(text, context), solution_of(row))


def _grounding_rule(text: str, row: Row, context: Context) -> Value:
    return grounding_reward(answer_of(text, context), solution_of(row), row.get("obj_ids"))


# Task name (the row's task, as grpo.data sets it from dataset_tasks) -> rule.
EARTHDIAL_RULES: dict[str, BatchRule] = {
    **dict.fromkeys(CLASSIFICATION_TASKS, per_sample(_classification_rule)),
    "vqa": per_sample(_vqa_rule),
    "multilabel": per_sample(_multilabel_rule),
    **dict.fromkeys(REFERRING_TASKS, per_sample(_referring_rule)),
    "detection": per_sample(_detection_rule),
    **dict.fromkeys(CAPTION_TASKS, per_sample(_caption_rule)),
    "region_captioning": per_sample(_region_rule),
    "grounding_description": per_sample(_grounding_rule),
}
EARTHDIAL_TASKS = tuple(EARTHDIAL_RULES)
