"""The pieces every reward family shares: a row, the call context, and the lift from one sample to a batch.

A row is one completion's dataset columns (grpo/data.py): `solution`, `task`, `reward_method`, `question`,
`images`, `image_size`, `input_size` (any may be missing offline). A rule scores a batch of completion texts
against their rows and returns one value in [0, 1] or None per row ("does not apply", TRL's multi-task
convention). Rules are pure except for the injected judge and the `log_metric` callback TRL passes in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from common.parsing import extract_answer

from .options import RewardOptions

Row = Mapping[str, Any]
Value = float | None


class JudgeLike(Protocol):
    """What the rewards need of `grpo.judge.Judge`: a 0-1 score of an answer, or None when there is none."""

    def score(self, question: str, answer: str, image: Any, image_base64: str | None = None) -> float | None: ...


@dataclass(frozen=True)
class Context:
    options: RewardOptions
    judge: JudgeLike | None = None
    log_metric: Callable[[str, float], None] | None = None


BatchRule = Callable[[Sequence[str], Sequence[Row], Context], list[Value]]
SampleRule = Callable[[str, Row, Context], Value]


def per_sample(rule: SampleRule) -> BatchRule:
    """A batch rule that applies `rule` to each (text, row) pair."""

    def batch(texts: Sequence[str], rows: Sequence[Row], context: Context) -> list[Value]:
        return [rule(text, row, context) for text, row in zip(texts, rows, strict=True)]

    batch.__doc__ = rule.__doc__
    return batch


def answer_of(text: str, context: Context) -> str:
    """The final answer of a completion: its answer tag's content (common.parsing.extract_answer, the eval's own)."""
    return extract_answer(text, context.options.answer_tag)


def solution_of(row: Row) -> str:
    """A row's ground truth as text ("" when the row has none; grpo/data.py always writes a string)."""
    return str(row.get("solution") or "")


def rule_task(row: Row) -> str | None:
    """The accuracy rule a row asks for: its `reward_method` (VLM-R1's per-record `accu_reward_method`) or its task."""
    return row.get("reward_method") or row.get("task")


def dispatch(rules: Mapping[str, BatchRule]) -> BatchRule:
    """One batch rule over several tasks: each row goes to the rule of its `rule_task`, None where there is none.

    Rows of one task are scored in one call, so a batched metric (METEOR) still makes one request per step.
    """

    def batch(texts: Sequence[str], rows: Sequence[Row], context: Context) -> list[Value]:
        values: list[Value] = [None] * len(texts)
        groups: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            task = rule_task(row)
            if task in rules:
                groups.setdefault(task, []).append(index)
        for task, indices in groups.items():
            scored = rules[task]([texts[i] for i in indices], [rows[i] for i in indices], context)
            for i, value in zip(indices, scored, strict=True):
                values[i] = value
        return values

    return batch


def unit(value: float | None) -> Value:
    """A score clipped to [0, 1]; None (and NaN, which no rule should produce) stays out of the sum."""
    if value is None or math.isnan(value):
        return None
    return min(1.0, max(0.0, float(value)))
