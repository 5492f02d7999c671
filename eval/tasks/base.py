"""The declarative task record shared by every benchmark family (lmms-eval style).

A task says where its samples come from (`load`), what the model is asked (`system` + `user`), how long it may
answer (`max_new_tokens`, `stop`), how its predictions are scored (`scoring`: one aggregate function per
protocol, built from the pure per-sample functions of the family module) and which metric sums it up in reports
(`headline`). Generation and scoring never look at a
task's key to decide anything: everything they need is in the record.

Rows: a task's samples are plain dicts in the predictions-file format (`eval.score` documents the fields):
`id`, `image`, `question`, `answer` and, where the benchmark has them, `size` / `type` / `category`. A row with
several images (EarthDial's bi-temporal rows) also has `images`, the decoded images in prompt order, kept in memory
only (`image` then names the row for people; generation never writes `images`). A sample that
could not be read has `error` set; generation copies it to the predictions file instead of asking the model.

Protocols: "paper" reproduces the published scorer, quirks included; "strict" scores the same predictions without
them. One rule is common to all families: a row with an `error` (unreadable image, failed generation) is excluded
from the paper metrics, as the upstream scripts lost such samples (they crashed or swallowed the exception), but it
is counted in `errors`; the strict protocol scores it as a wrong answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.data import DataError
from common.parsing import BOX_FRAMES
from common.prompts import DEFAULT_SYSTEM

logger = logging.getLogger("eval.tasks")

PROMPT_STYLES = ("tinyrs", "qwen2vl_instruct", "qwen2vl")
PROTOCOLS = ("paper", "strict")

# Qwen2-VL chat-control tokens; SAMData generation stops on any of them (SPEC 6.1), ScoreRS on <|im_end|> (6.2).
QWEN_STOP = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class PromptOptions:
    style: str | None = None  # one of PROMPT_STYLES; only the ScoreRS prompts depend on it (and require it)
    reasoning: bool = False  # R1 system prompt (ScoreRS: <reasoning> tags, GeoVLM: <think> tags)

    def __post_init__(self) -> None:
        if self.style is not None and self.style not in PROMPT_STYLES:
            raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {self.style!r}")


@dataclass(frozen=True)
class ScoreOptions:
    style: str = "tinyrs"  # ScoreRS grounding: which box syntax the model answers in (SPEC 6.2)
    reasoning: bool = False  # ScoreRS grounding, Qwen2-VL style: upstream accepts `[a, b, c, d]` in reasoning mode
    box_frame: str = "pixels"  # GeoVLM box tasks, see BOX_FRAMES
    meteor: bool = True  # GeoVLM captioning: METEOR starts a JVM (~10 s); off with --no-meteor

    def __post_init__(self) -> None:
        if self.style not in PROMPT_STYLES:
            raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {self.style!r}")
        if self.box_frame not in BOX_FRAMES:
            raise ValueError(f"box frame must be one of {BOX_FRAMES}, got {self.box_frame!r}")


Row = dict[str, Any]
# "Scoring", not "scorers": the ScoreRS suite is the `scorers` family (eval.tasks.scorers, `--tasks scorers`, the
# data folder scorers/), names users type; a task's per-protocol functions are internal and take the other word.
ScoreFn = Callable[[Sequence[Row], ScoreOptions], dict]


@dataclass(frozen=True)
class Task:
    key: str
    family: str  # "samdata" | "scorers" | "geovlm" | "earthdial"
    kind: str  # what is asked: "samdata", "cls", "vqa", "bbox", "mcq", or a GeoVLM task name
    load: Callable[[str | os.PathLike], list[Row]]  # data root -> rows in data order (errors included)
    user: Callable[[Row, PromptOptions], str]  # the text after the image
    scoring: dict[str, ScoreFn]  # protocol -> rows -> metrics
    headline: str  # the metric that sums the task up in report tables and bar charts (eval.report)
    system: Callable[[PromptOptions], str] = lambda options: DEFAULT_SYSTEM
    max_new_tokens: int = 1024
    stop: tuple[str, ...] = ("<|im_end|>",)
    description: str = ""

    # A task whose rows carry their own ground-truth format: path -> rows, or None when the file is in the
    # predictions format (eval.score reads both; EarthDial's result rows, eval.tasks.earthdial).
    read_results: Callable[[str | os.PathLike], list[Row] | None] | None = None

    def messages(self, row: Row, options: PromptOptions) -> list[dict]:
        """Chat messages in the processor's multimodal format: system text, then the images (one, or the row's
        `images` in order) before the question."""
        images = [{"type": "image"} for _ in row.get("images") or [None]]
        return [
            {"role": "system", "content": [{"type": "text", "text": self.system(options)}]},
            {"role": "user", "content": [*images, {"type": "text", "text": self.user(row, options)}]},
        ]

    def score(self, rows: Sequence[Row], protocol: str, options: ScoreOptions) -> dict:
        if protocol not in self.scoring:
            raise ValueError(f"task {self.key}: protocol must be one of {tuple(self.scoring)}, got {protocol!r}")
        return self.scoring[protocol](rows, options)


class MissingDataError(DataError):
    """A task's data is absent from the data root (not malformed). `eval.run` skips such a task, logged and listed
    in metrics.json, when it was selected through a family name (`--tasks earthdial` over a partial download); a
    task named by its key still fails."""


def load_or_skip(
    task: Task, data_root: str | os.PathLike, named: set[str], skipped: MutableMapping[str, str] | None = None
) -> list[Row] | None:
    """A task's rows, or None when its data is absent and it was selected through a family name: that skip is
    logged, and recorded in `skipped` (task key -> reason) when given; a task named by its key (in `named`) still
    fails (MissingDataError's rule). eval.run and eval.tokens select tasks alike."""
    try:
        return task.load(data_root)
    except MissingDataError as exc:
        if task.key in named:
            raise
        logger.warning("%s: skipped, its data is absent (%s)", task.key, exc)
        if skipped is not None:
            skipped[task.key] = str(exc)
        return None


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (SPEC 6.1 states this rule for SAMData)."""
    return numerator / denominator if denominator else 0.0


def paper_rows(rows: Sequence[Row]) -> list[Row]:
    """Rows the paper protocol scores: those without an error (see the module docstring)."""
    return [row for row in rows if not row.get("error")]


def error_row(row_id: str, message: str, **fields: Any) -> Row:
    """A sample that cannot be asked: recorded with its error, never dropped."""
    return {"id": row_id, "image": "", "question": "", "answer": "", **fields, "prediction": "", "error": message}
