"""GeoVLM-R1 metrics (SPEC 6.3) over multi-task JSONL files (SPEC 2.4): `<data root>/<task>.jsonl`, images in
`<data root>/images/`, the prompt taken from the record (its human turn) and the answer from its gpt turn.

GeoVLM-R1's evaluation code is not published here, so each metric follows SPEC 6.3 with the VLM-R1 definitions of
SPEC 5, built from `common.metrics` (the same functions as the GRPO task-aware rewards):

| task | metrics |
|---|---|
| classification | accuracy: exact match after normalisation |
| multilabel | mean per-sample F1 of the label sets (no mAP: generated labels carry no scores to rank by) |
| referring_detection | acc@0.5 and acc@0.25 (every true box matched one-to-one), by true-box area (small <= 32^2 <
  medium <= 96^2 < large, the ScoreRS levels) and by single / multiple objects |
| detection | mAP@0.5, mAP@0.25: per-image AP of the boxes in the order generated, averaged over images |
| captioning | ROUGE-1, ROUGE-L (F-measure) and METEOR (pycocoevalcap, JVM; skipped with --no-meteor) |
| vqa | accuracy: exact match after normalisation |
| counting | accuracy: the first number equals the true count |

Predicted boxes are read in the answer's frame and mapped to the image's pixels by `ScoreOptions.box_frame`
(pixels: as given; grid: Qwen2-VL's 0-1000 grid; grid100: EarthDial's 0-100 grid; input: Qwen2.5-VL's resized
input, from the row's `input_size`).
Both protocols share these metrics; as everywhere, the paper protocol leaves out failed samples and the strict one
scores them 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from common.data import read_jsonl
from common.metrics import (
    average_precision,
    count_match,
    exact_match,
    matched_ious,
    meteor,
    multilabel_f1,
    rouge_1,
    rouge_l,
)
from common.parsing import Box, answer_boxes, boxes_to_pixels, extract_answer, parse_boxes
from common.prompts import DEFAULT_SYSTEM, THINK_SYSTEM

from .base import PromptOptions, Row, ScoreOptions, Task, error_row, ratio
from .scorers import AREA_LEVELS, area_level

TASK_NAMES = (
    "classification",
    "multilabel",
    "referring_detection",
    "detection",
    "captioning",
    "vqa",
    "counting",
)
IMAGE_FOLDER = "images"
MAX_NEW_TOKENS = 1024
IOU_THRESHOLDS = (0.5, 0.25)


def answer_text(prediction: str) -> str:
    return extract_answer(prediction)


def boxes_in_pixels(prediction: str, row: Row, frame: str) -> list[Box]:
    """Every predicted box, mapped from the answer's frame to the image's pixels (common.parsing's one rule)."""
    try:
        return boxes_to_pixels(answer_boxes(answer_text(prediction)), frame, row.get("size"), row.get("input_size"))
    except ValueError as error:
        raise ValueError(f"row {row['id']!r}: {error}") from None


def all_matched(predictions: Sequence[Box], truths: Sequence[Box], threshold: float) -> bool:
    """Every true box has its own predicted box with IoU >= threshold (threshold > 0), matched one-to-one by
    `common.metrics.matched_ious`, the matching the referring_iou reward scores too."""
    return all(iou >= threshold for iou in matched_ious(predictions, truths))


# Per-sample metrics: row -> {metric: value in [0, 1]}; a failed row scores 0 on each (strict protocol).
SampleMetrics = Callable[[Row, ScoreOptions], dict[str, float]]


def _label_accuracy(row: Row, options: ScoreOptions) -> dict[str, float]:
    return {"accuracy": exact_match(answer_text(row["prediction"]), row["answer"])}


def _multilabel(row: Row, options: ScoreOptions) -> dict[str, float]:
    return {"f1": multilabel_f1(answer_text(row["prediction"]), row["answer"])}


def _counting(row: Row, options: ScoreOptions) -> dict[str, float]:
    return {"accuracy": count_match(answer_text(row["prediction"]), row["answer"])}


def _detection(row: Row, options: ScoreOptions) -> dict[str, float]:
    predictions = boxes_in_pixels(row["prediction"], row, options.box_frame)
    truths = parse_boxes(row["answer"])
    return {f"mAP@{t}": average_precision(predictions, truths, t) for t in IOU_THRESHOLDS}


def _referring_groups(row: Row) -> list[str]:
    truths = parse_boxes(row.get("answer") or "")
    if not truths:
        return []
    # Size levels are defined for single objects only; several objects form their own group.
    return [area_level(truths[0]), "single"] if len(truths) == 1 else ["multiple"]


def _referring(row: Row, options: ScoreOptions) -> dict[str, float]:
    truths = parse_boxes(row["answer"])
    if not truths:
        raise ValueError(f"row {row['id']!r}: no [x1, y1, x2, y2] box in the answer {row['answer']!r}")
    predictions = boxes_in_pixels(row["prediction"], row, options.box_frame)
    return {f"acc@{t}": float(all_matched(predictions, truths, t)) for t in IOU_THRESHOLDS}


def _captioning(row: Row, options: ScoreOptions) -> dict[str, float]:
    text = answer_text(row["prediction"])
    return {"rouge_1": rouge_1(text, row["answer"]), "rouge_l": rouge_l(text, row["answer"])}


def _mean_metrics(
    rows: Sequence[Row], per_sample: SampleMetrics, options: ScoreOptions, *, paper: bool
) -> tuple[dict[str, float], list[dict[str, float] | None]]:
    scored = [row for row in rows if not (paper and row.get("error"))]
    values = [None if row.get("error") else per_sample(row, options) for row in scored]
    names = next((list(v) for v in values if v is not None), [])
    metrics = {name: ratio(sum((v or {}).get(name, 0.0) for v in values), len(values)) for name in names}
    metrics["count"] = len(values)
    return metrics, values


def _scorer(per_sample: SampleMetrics, *, paper: bool, task: str) -> Callable[[Sequence[Row], ScoreOptions], dict]:
    def score(rows: Sequence[Row], options: ScoreOptions) -> dict:
        metrics, values = _mean_metrics(rows, per_sample, options, paper=paper)
        scored = [row for row in rows if not (paper and row.get("error"))]
        if task == "referring_detection":
            for group in (*(name for _, name in AREA_LEVELS), "single", "multiple"):
                members = [v for row, v in zip(scored, values) if group in _referring_groups(row)]
                for t in IOU_THRESHOLDS:
                    metrics[f"acc@{t}_{group}"] = ratio(
                        sum((v or {}).get(f"acc@{t}", 0.0) for v in members), len(members)
                    )
                metrics[f"count_{group}"] = len(members)
        if task == "captioning" and options.meteor:
            ok = [row for row in scored if not row.get("error")]
            scores = meteor([answer_text(row["prediction"]) for row in ok], [row["answer"] for row in ok])
            metrics["meteor"] = ratio(sum(scores), len(scored))
        return metrics

    return score


_PER_SAMPLE: dict[str, SampleMetrics] = {
    "classification": _label_accuracy,
    "multilabel": _multilabel,
    "referring_detection": _referring,
    "detection": _detection,
    "captioning": _captioning,
    "vqa": _label_accuracy,
    "counting": _counting,
}
# task -> the metric reports lead with.
HEADLINE = {
    "classification": "accuracy",
    "multilabel": "f1",
    "referring_detection": "acc@0.5",
    "detection": "mAP@0.5",
    "captioning": "rouge_l",
    "vqa": "accuracy",
    "counting": "accuracy",
}


def load_file(task: str) -> Callable[[str | os.PathLike], list[Row]]:
    def load(data_root: str | os.PathLike) -> list[Row]:
        root = Path(data_root)
        folder = root / IMAGE_FOLDER
        result = read_jsonl(root / f"{task}.jsonl", folder if folder.is_dir() else root, policy="skip")
        rows = []
        for record in result.records:
            if len(record.images) != 1:
                rows.append(error_row(str(record.index), f"expected one image, got {len(record.images)}"))
                continue
            row = {
                "id": str(record.index),  # line number: unique even where the data's own ids are not
                "image": record.images[0],
                "question": record.turns[-1].content,
                "answer": record.solution,
            }
            if "size" in record.extra:
                row["size"] = record.extra["size"]
            rows.append(row)
        rows += [error_row(str(p.index), p.message) for p in result.problems]
        return sorted(rows, key=lambda row: int(row["id"]))

    return load


def geovlm_question_text(question: str) -> str:
    """The record's human turn with its image placeholder (and the newline after it) removed: the image goes first."""
    return question.replace("<image>\n", "").replace("<image>", "")


def system_text(options: PromptOptions) -> str:
    # GeoVLM-R1 / VLM-R1 reason in <think> tags (SPEC 4).
    return THINK_SYSTEM if options.reasoning else DEFAULT_SYSTEM


def _make_task(name: str) -> Task:
    return Task(
        key=f"geovlm_{name}",
        family="geovlm",
        kind=name,
        load=load_file(name),
        user=lambda row, options: geovlm_question_text(row["question"]),
        system=system_text,
        scoring={
            "paper": _scorer(_PER_SAMPLE[name], paper=True, task=name),
            "strict": _scorer(_PER_SAMPLE[name], paper=False, task=name),
        },
        headline=HEADLINE[name],
        max_new_tokens=MAX_NEW_TOKENS,
        description=f"GeoVLM-R1 {name} ({name}.jsonl, SPEC 6.3)",
    )


TASKS = {f"geovlm_{name}": _make_task(name) for name in TASK_NAMES}
