"""The ScoreRS suite as TinyRS evaluates it (SPEC 2.6, 6.2): 5 classification, 5 RSVQA, DIOR-RSVG grounding and
LHRS-Bench multiple choice, each a task keyed as upstream.

Prompts (reproduced from the released ScoreRS/TinyRS script `eval/python_script/evaluation/rs_evaluation.py`,
`convt_qa`, and its lmdeploy model wrapper `eval/src/evaluation/lm_prediction_call.py`, `LMDeployLM`): upstream joins
`prefix + " " + question` for classification, `prefix + " " + question + " " + suffix` for VQA and grounding, and
then deletes "<image>\\n". The TinyRS style sets the prefixes {CLS} / {VQA} / {VG}; the two Qwen2-VL styles set only
a grounding prefix and suffix, so their classification and VQA prompts keep the joining spaces around a bare
question (" q", " q "), and their grounding query sits between spaces inside the object-ref tokens. LHRS-Bench gets
no prefix. Reasoning mode swaps the system text for REASONING_SYSTEM (upstream's qwen2_thinking_template.json).

Box syntaxes per style (upstream's parsers, in `common.parsing.parse_box`): TinyRS `[[x1,y1,x2,y2]]` integers;
Qwen2-VL-Instruct exactly four numbers, [0, 1] values times 1000; Qwen2-VL `(x1,y1),(x2,y2)`, in reasoning mode
also `[a, b, c, d]` (upstream's syntax: unsigned, a comma right after each number). All three are on the 0-1000 grid,
mapped to pixels as `p * w / 1000` in that order of operations (`common.parsing.scale_box`), for both protocols.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from common.data import LHRS_CATEGORIES, SCORERS_TASKS, read_scorers
from common.metrics import exact_match
from common.parsing import Box, box_iou, parse_box, parse_boxes, scale_box, scorers_answer
from common.prompts import (
    DEFAULT_SYSTEM,
    QWEN2VL_GROUNDING,
    QWEN2VL_INSTRUCT_GROUNDING,
    REASONING_SYSTEM,
    TINYRS_CLS_PREFIX,
    TINYRS_VG_PREFIX,
    TINYRS_VQA_PREFIX,
)

from .base import PROMPT_STYLES, PromptOptions, Row, ScoreOptions, Task, error_row, paper_rows, ratio

MAX_NEW_TOKENS = 1024
GRID = 1000.0  # every style answers boxes on a 0-1000 grid (SPEC 6.2)
# Upstream's area levels: a box is small when its area is <= 32^2, medium when <= 96^2, large otherwise.
AREA_LEVELS = ((32**2, "small"), (96**2, "medium"), (math.inf, "large"))
LHRS_NAMES = dict(
    zip(
        LHRS_CATEGORIES,
        "identity color orientation shape quantity area distance resolution modality location reasoning".split(),
    )
)


# ---------------------------------------------------------------------------------------------------------------
# Prompts


def question_text(raw: str) -> str:
    """conversations[0].value without upstream's "<image>\\n" (the image goes before the text)."""
    return raw.replace("<image>\n", "")


def styled_question_prompt(question: str, kind: str, style: str) -> str:
    """The user text of a ScoreRS sample for a prompt style (module docstring: where each string comes from)."""
    q = question_text(question)
    if kind == "mcq":
        return q
    if style not in PROMPT_STYLES:
        raise ValueError(f"ScoreRS prompts need a prompt style, one of {PROMPT_STYLES}; got {style!r}")
    if style == "tinyrs":
        # The constants carry upstream's joining space ("{CLS}" + " ").
        prefix = {"cls": TINYRS_CLS_PREFIX, "vqa": TINYRS_VQA_PREFIX, "bbox": TINYRS_VG_PREFIX}[kind]
        return prefix + q if kind == "cls" else prefix + q + " "
    if kind == "cls":
        return " " + q
    if kind == "vqa":
        return " " + q + " "
    template = QWEN2VL_INSTRUCT_GROUNDING if style == "qwen2vl_instruct" else QWEN2VL_GROUNDING
    return template.format(query=" " + q + " ")


def system_text(options: PromptOptions) -> str:
    return REASONING_SYSTEM if options.reasoning else DEFAULT_SYSTEM


# ---------------------------------------------------------------------------------------------------------------
# Per-sample scorers (pure)


def short_answer_correct_paper(prediction: str, answer: str) -> bool:
    """Classification / VQA, paper protocol (SPEC 6.2): spaces removed, cut at the first "." then ",", lower-cased;
    correct when the prediction is a substring of the answer, so an empty prediction is correct.

    >>> short_answer_correct_paper("<answer>Dense residential.</answer>", "dense residential")
    True
    >>> short_answer_correct_paper("", "airport")
    True
    """
    text = scorers_answer(prediction).replace(" ", "").split(".")[0].split(",")[0].strip().lower()
    return text in answer.replace(" ", "").strip().lower()


def short_answer_correct_strict(prediction: str, answer: str) -> bool:
    """Classification / VQA / LHRS-Bench, strict: exact match after `normalise_label`; empty is wrong."""
    text = scorers_answer(prediction)
    return bool(text.strip()) and exact_match(text, answer) == 1.0


def choice_correct_paper(prediction: str, answer: str) -> bool:
    """LHRS-Bench, paper protocol (SPEC 6.2): cut at the first ".", spaces and dots removed, lower-cased, substring.

    >>> choice_correct_paper("B. Airport", "B")
    True
    """
    text = scorers_answer(prediction).split(".")[0].replace(" ", "").replace(".", "").lower()
    return text in answer.replace(" ", "").replace(".", "").lower()


def predicted_box(prediction: str, style: str, reasoning: bool = False) -> Box | None:
    """The first box of a grounding answer on the 0-1000 grid, parsed as the style's upstream parser does.

    >>> predicted_box("[100, 100, 500, 500]", "qwen2vl", reasoning=True)
    (100.0, 100.0, 500.0, 500.0)
    >>> predicted_box("[100, 100, 500, 500]", "qwen2vl") is None
    True
    """
    text = scorers_answer(prediction)
    if style == "qwen2vl":
        # Upstream's Qwen2-VL parser falls back to `[a, b, c, d]` when it was run with the reasoning template, with
        # its own strict list syntax (no signs, a comma right after each number: `[1 , 2, 3, 4]` is unparseable).
        return parse_box(text, "qwen2vl") or (parse_box(text, "qwen2vl_list") if reasoning else None)
    return parse_box(text, style)


def area_level(box: Box) -> str:
    area = (box[2] - box[0]) * (box[3] - box[1])
    return next(name for bound, name in AREA_LEVELS if area <= bound)


# ---------------------------------------------------------------------------------------------------------------
# Aggregations


def _accuracy(rows: Sequence[Row], correct: Callable[[Row], bool]) -> dict:
    hits = [correct(row) for row in rows]
    return {"accuracy": ratio(sum(hits), len(hits)), "count": len(hits)}


def _short_paper(rows: Sequence[Row], options: ScoreOptions) -> dict:
    return _accuracy(paper_rows(rows), lambda r: short_answer_correct_paper(r["prediction"], r["answer"]))


def _short_strict(rows: Sequence[Row], options: ScoreOptions) -> dict:
    return _accuracy(rows, lambda r: not r.get("error") and short_answer_correct_strict(r["prediction"], r["answer"]))


def _lhrs(rows: Sequence[Row], correct: Callable[[Row], bool]) -> dict:
    by_category: dict[str, list[bool]] = {}
    hits = []
    for row in rows:
        hit = correct(row)
        hits.append(hit)
        for category in row.get("type") or ():
            by_category.setdefault(category, []).append(hit)
    metrics = {"accuracy": ratio(sum(hits), len(hits)), "count": len(hits)}
    for category in LHRS_CATEGORIES:  # upstream reports only the categories that occur
        if category in by_category:
            values = by_category[category]
            metrics[f"accuracy_{LHRS_NAMES[category]}"] = ratio(sum(values), len(values))
    return metrics


def _lhrs_paper(rows: Sequence[Row], options: ScoreOptions) -> dict:
    return _lhrs(paper_rows(rows), lambda r: choice_correct_paper(r["prediction"], r["answer"]))


def _lhrs_strict(rows: Sequence[Row], options: ScoreOptions) -> dict:
    return _lhrs(rows, lambda r: not r.get("error") and short_answer_correct_strict(r["prediction"], r["answer"]))


# The bootstrap (eval.intervals) rescores the same rows a thousand times; parsing is the cost (about 0.1-0.2 s per
# rescoring of 2000 rows), so both parses are cached. Pure functions of strings: caching changes no value.
_cached_predicted_box = functools.lru_cache(maxsize=1 << 16)(predicted_box)


@functools.lru_cache(maxsize=1 << 16)
def _truth_boxes(answer: str) -> tuple[Box, ...]:
    return tuple(parse_boxes(answer))


def _grounding(rows: Sequence[Row], options: ScoreOptions, *, paper: bool) -> dict:
    """Acc@0.5 overall and by ground-truth area (SPEC 6.2); one ground-truth box per sample (DIOR-RSVG has one).

    paper: upstream unpacks `size` as (h, w) (the data's [w, h] is read transposed; DIOR-RSVG images are square, so
    the published numbers are unaffected) and, for the TinyRS and Qwen2-VL-Instruct styles, a prediction it cannot
    parse leaves the sample out of every denominator (for Qwen2-VL it is a miss). strict: size read as [w, h];
    unparseable or failed = miss (a failed sample whose ground truth could not be read counts only overall).
    """
    hits = {name: 0 for _, name in AREA_LEVELS}
    counts = {name: 0 for _, name in AREA_LEVELS}
    total = hit_total = unparseable = 0
    for row in rows:
        truths = _truth_boxes(row.get("answer") or "")
        if row.get("error"):
            total += 1
            if truths:
                counts[area_level(truths[0])] += 1
            continue
        if not truths:
            raise ValueError(f"row {row['id']!r}: no [x1, y1, x2, y2] ground-truth box in {row['answer']!r}")
        prediction = _cached_predicted_box(row["prediction"], options.style, options.reasoning)
        if prediction is None:
            unparseable += 1
            if paper and options.style in ("tinyrs", "qwen2vl_instruct"):
                continue
        width, height = row["size"][::-1] if paper else row["size"]
        hit = prediction is not None and box_iou(truths[0], scale_box(prediction, (GRID, GRID), (width, height))) >= 0.5
        level = area_level(truths[0])
        total, counts[level] = total + 1, counts[level] + 1
        hit_total, hits[level] = hit_total + hit, hits[level] + hit
    metrics = {"acc@0.5": ratio(hit_total, total), "count": total, "unparseable": unparseable}
    for _, name in AREA_LEVELS:
        metrics[f"acc@0.5_{name}"] = ratio(hits[name], counts[name])
        metrics[f"count_{name}"] = counts[name]
    return metrics


def _grounding_paper(rows: Sequence[Row], options: ScoreOptions) -> dict:
    return _grounding(paper_rows(rows), options, paper=True)


def _grounding_strict(rows: Sequence[Row], options: ScoreOptions) -> dict:
    return _grounding(rows, options, paper=False)


# kind -> protocol -> scoring function, and kind -> the metric reports lead with.
SCORING = {
    "cls": {"paper": _short_paper, "strict": _short_strict},
    "vqa": {"paper": _short_paper, "strict": _short_strict},
    "bbox": {"paper": _grounding_paper, "strict": _grounding_strict},
    "mcq": {"paper": _lhrs_paper, "strict": _lhrs_strict},
}
HEADLINE = {"cls": "accuracy", "vqa": "accuracy", "bbox": "acc@0.5", "mcq": "accuracy"}


# ---------------------------------------------------------------------------------------------------------------
# Data


def _raw_fields(raw: object) -> dict:
    """What can be salvaged from a bad record for its error row (the answer keeps grounding's size levels right)."""
    if not isinstance(raw, dict):
        return {}
    fields = {key: raw[key] for key in ("image", "size", "type") if key in raw}
    conversations = raw.get("conversations")
    if isinstance(conversations, list) and len(conversations) > 1 and isinstance(conversations[1], dict):
        answer = conversations[1].get("value")
        if isinstance(answer, str):
            fields["answer"] = answer
    return fields


def load_file(file_name: str) -> Callable[[str | os.PathLike], list[Row]]:
    """Reader of one ScoreRS file under the data root; a bad record becomes an error row with its index as id."""

    def load(data_root: str | os.PathLike) -> list[Row]:
        result = read_scorers(Path(data_root) / file_name, data_root, policy="skip")
        rows = []
        for record in result.records:
            row = {
                "id": str(record.index),  # position in the file: unique even where the data's own ids are not
                "image": record.images[0],
                "question": record.turns[0].content,
                "answer": record.solution,
            }
            for key in ("size", "type"):
                if key in record.extra:
                    row[key] = record.extra[key]
            rows.append(row)
        if result.problems:
            raw = json.loads(Path(data_root, file_name).read_text(encoding="utf-8-sig"))
            rows += [error_row(str(p.index), p.message, **_raw_fields(raw[p.index])) for p in result.problems]
        return sorted(rows, key=lambda row: int(row["id"]))

    return load


def _make_task(key: str, file_name: str, kind: str) -> Task:
    def user(row: Row, options: PromptOptions) -> str:
        return styled_question_prompt(row["question"], kind, options.style)

    return Task(
        key=key,
        family="scorers",
        kind=kind,
        load=load_file(file_name),
        user=user,
        system=system_text,
        scoring=SCORING[kind],
        headline=HEADLINE[kind],
        max_new_tokens=MAX_NEW_TOKENS,
        description=f"ScoreRS {file_name} ({kind})",
    )


TASKS = {key: _make_task(key, file_name, kind) for key, (file_name, kind) in SCORERS_TASKS.items()}
