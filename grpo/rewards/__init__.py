"""The GRPO reward library: an explicit registry of pure rewards, chosen by name in a recipe (`reward_funcs`).

| name | family | scores rows whose task (or reward_method) is | rule |
|---|---|---|---|
| format | format | any | R1 layout, search or full match (SPEC 5) |
| completion_length | format | any | min(1, chars / max): smoke tests only, not a paper reward |
| samchat_keyword | samchat | samchat | keyword found <=> solution "1" (SPEC 5); logs samchat/all_keywords_frac |
| tinyrs_accuracy | tinyrs | short_answer, bbox, open_ended | exact / IoU / LLM judge (SPEC 5) |
| iou | tinyrs | bbox | IoU of the first four integers; iou_mode upstream = the SPEC 7.5 bug |
| classification | geovlm | classification, vqa | exact match, 0 for several class names |
| yes_no | geovlm | yes_no | the yes / no matches |
| multiple_choice | geovlm | multiple_choice | the choice letter matches |
| multilabel_f1 | geovlm | multilabel | label-set F1 |
| counting | geovlm | counting | exact count |
| referring_iou | geovlm | referring_detection | IoU of one-to-one matched boxes, in image pixels |
| detection_map | geovlm | detection | AP@0.5 x min(1, n_true / n_predicted) |
| caption | geovlm | captioning | ROUGE-L or METEOR |
| geovlm_accuracy | geovlm | every GeoVLM task | the rule of the row's reward_method, else of its task |
| earthdial_classification | earthdial | classification, temporal_classification, region_classification | token recall, 0 for several offered classes |
| earthdial_vqa | earthdial | vqa | token-set Jaccard |
| earthdial_multilabel | earthdial | multilabel | label-set F1 |
| earthdial_referring | earthdial | referring_detection, referred_detection | mean rotated IoU, one-to-one |
| earthdial_detection | earthdial | detection | hits@0.5 / n_true x min(1, n_true / n_predicted), rotated |
| earthdial_caption | earthdial | image_captioning, change_captioning, region_captioning | (ROUGE-1 F + ROUGE-L F) / 2 |
| earthdial_grounding | earthdial | grounding_description | (box hits / max(n) + description ROUGE-L F) / 2 |
| earthdial_accuracy | earthdial | every EarthDial task | the rule of the row's task (grpo/rewards/earthdial.py) |

Rewards with a strict counterpart (samchat_keyword, the EarthDial label rewards) also log
`shadow/<name>/strict_gap` during training: the fraction of completions the reward pays for and the strict rule
rejects (grpo/rewards/shadow.py).

Every value is in [0, 1], or None where the reward does not apply to the row (TRL's multi-task convention: the
trainer turns None into NaN and leaves it out of the sum). `build_reward_funcs` wraps the registry entries into the
callables `trl.GRPOTrainer` calls; `score_rows` is the same computation for offline use (`python -m grpo.rewards`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import BatchRule, Context, JudgeLike, Row, Value, dispatch, per_sample
from .earthdial import CAPTION_TASKS, CLASSIFICATION_TASKS, EARTHDIAL_RULES, EARTHDIAL_TASKS, REFERRING_TASKS
from .format import completion_length, format_reward
from .geovlm import GEOVLM_RULES, GEOVLM_TASKS
from .options import RewardOptions
from .samchat import samchat_rule
from .shadow import log_strict_gap
from .tinyrs import BBOX, OPEN_ENDED, SHORT_ANSWER, bbox_rule, open_ended_rule, short_answer_rule

__all__ = [
    "REWARDS",
    "TASKS",
    "Reward",
    "RewardOptions",
    "build_reward_funcs",
    "completion_text",
    "default_task",
    "unscored_tasks",
    "score_rows",
]

SAMCHAT = "samchat"
# EarthDial families reuse some GeoVLM task names (classification, vqa, ...): the recipe's reward picks the rule.
TASKS = tuple(dict.fromkeys((SAMCHAT, SHORT_ANSWER, BBOX, OPEN_ENDED, *GEOVLM_TASKS, *EARTHDIAL_TASKS)))


@dataclass(frozen=True)
class Reward:
    rule: BatchRule
    tasks: tuple[str, ...]  # the tasks it scores, the first being its natural one; () = every row, any task
    summary: str


def _format_rule(text: str, row: Row, context: Context) -> Value:
    return format_reward(text, context.options)


def _length_rule(text: str, row: Row, context: Context) -> Value:
    return completion_length(text, context.options.completion_length_max_chars)


def _geovlm(*tasks: str) -> BatchRule:
    return dispatch({task: GEOVLM_RULES[task] for task in tasks})


def _earthdial(*tasks: str) -> BatchRule:
    return dispatch({task: EARTHDIAL_RULES[task] for task in tasks})


_EARTHDIAL_CAPTIONS = (*CAPTION_TASKS, "region_captioning")


_TINYRS_RULES = {
    SHORT_ANSWER: per_sample(short_answer_rule),
    BBOX: per_sample(bbox_rule),
    OPEN_ENDED: per_sample(open_ended_rule),
}

REWARDS: dict[str, Reward] = {
    "format": Reward(per_sample(_format_rule), (), "R1 tag layout (SPEC 5)"),
    "samchat_keyword": Reward(dispatch({SAMCHAT: samchat_rule}), (SAMCHAT,), "SAMChat keyword accuracy (SPEC 5)"),
    "tinyrs_accuracy": Reward(dispatch(_TINYRS_RULES), tuple(_TINYRS_RULES), "TinyRS typed accuracy (SPEC 5)"),
    "iou": Reward(dispatch({BBOX: _TINYRS_RULES[BBOX]}), (BBOX,), "TinyRS box IoU (SPEC 5, 7.5)"),
    "classification": Reward(_geovlm("classification", "vqa"), ("classification", "vqa"), "label exact match"),
    "yes_no": Reward(_geovlm("yes_no"), ("yes_no",), "yes / no match"),
    "multiple_choice": Reward(_geovlm("multiple_choice"), ("multiple_choice",), "choice letter match"),
    "multilabel_f1": Reward(_geovlm("multilabel"), ("multilabel",), "label-set F1"),
    "counting": Reward(_geovlm("counting"), ("counting",), "exact count"),
    "referring_iou": Reward(_geovlm("referring_detection"), ("referring_detection",), "matched box IoU"),
    "detection_map": Reward(_geovlm("detection"), ("detection",), "AP@0.5 x count penalty"),
    "caption": Reward(_geovlm("captioning"), ("captioning",), "ROUGE-L or METEOR"),
    "geovlm_accuracy": Reward(dispatch(GEOVLM_RULES), GEOVLM_TASKS, "GeoVLM task-aware accuracy (SPEC 5)"),
    "completion_length": Reward(per_sample(_length_rule), (), "length / max_chars (smoke tests only)"),
    "earthdial_classification": Reward(
        _earthdial(*CLASSIFICATION_TASKS), CLASSIFICATION_TASKS, "EarthDial token recall, several-classes gate"
    ),
    "earthdial_vqa": Reward(_earthdial("vqa"), ("vqa",), "token-set Jaccard"),
    "earthdial_multilabel": Reward(_earthdial("multilabel"), ("multilabel",), "label-set F1"),
    "earthdial_referring": Reward(_earthdial(*REFERRING_TASKS), REFERRING_TASKS, "rotated IoU, one-to-one"),
    "earthdial_detection": Reward(_earthdial("detection"), ("detection",), "rotated hits@0.5 x count penalty"),
    "earthdial_caption": Reward(_earthdial(*_EARTHDIAL_CAPTIONS), _EARTHDIAL_CAPTIONS, "ROUGE-1 and ROUGE-L F"),
    "earthdial_grounding": Reward(
        _earthdial("grounding_description"), ("grounding_description",), "boxes and description"
    ),
    "earthdial_accuracy": Reward(dispatch(EARTHDIAL_RULES), EARTHDIAL_TASKS, "EarthDial task-aware accuracy (ours)"),
}

# Keyword arguments TRL passes to every reward function besides the dataset columns.
_NOT_COLUMNS = frozenset({"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric"})


def _check_names(names: Sequence[str]) -> None:
    unknown = [name for name in names if name not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; registered: {sorted(REWARDS)}")
    if not names:
        raise ValueError(f"no reward named; registered: {sorted(REWARDS)}")


def completion_text(completion: Any) -> str:
    """The text of one completion: a plain string, or TRL's conversational form, a list of messages whose
    assistant contents (strings, or lists of {"type": "text", "text": ...} parts) are joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        parts = []
        for message in completion:
            if not isinstance(message, Mapping):
                raise TypeError(f"a conversational completion holds messages (dicts), got {type(message).__name__}")
            if message.get("role", "assistant") != "assistant":
                continue
            content = message.get("content") or ""
            if isinstance(content, str):
                parts.append(content)
            else:
                parts.extend(part.get("text") or "" for part in content if part.get("type") == "text")
        return "".join(parts)
    raise TypeError(f"a completion is a string or a list of messages, got {type(completion).__name__}")


def _column_rows(columns: Mapping[str, Any], count: int) -> list[dict[str, Any]]:
    # TRL hands over every dataset column as a list with one entry per completion; anything else is not a column.
    lists = {
        key: value
        for key, value in columns.items()
        if key not in _NOT_COLUMNS and isinstance(value, list) and len(value) == count
    }
    return [{key: value[i] for key, value in lists.items()} for i in range(count)]


def _trl_reward(name: str, reward: Reward, options: RewardOptions, judge: JudgeLike | None) -> Callable[..., list]:
    def reward_func(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[Value]:
        texts = [completion_text(completion) for completion in completions]
        rows = _column_rows(kwargs, len(texts))
        context = Context(options, judge, kwargs.get("log_metric"))
        values = reward.rule(texts, rows, context)
        # Beside a paper-protocol reward: shadow/<name>/strict_gap from the same completions (grpo.rewards.shadow).
        log_strict_gap(name, values, texts, rows, context)
        return values

    # TRL logs each reward as rewards/<__name__>/mean.
    reward_func.__name__ = reward_func.__qualname__ = name
    reward_func.__doc__ = f"{name}: {reward.summary} (grpo.rewards)."
    return reward_func


def build_reward_funcs(
    names: Sequence[str], options: RewardOptions, judge: JudgeLike | None = None
) -> list[Callable[..., list]]:
    """TRL-ready reward functions, in the order named, each with `__name__` == its registry name.

    `judge` (grpo.judge.Judge or any object with its `score`) is only called by tinyrs_accuracy for open-ended
    rows; without one those rows score None.
    """
    _check_names(names)
    return [_trl_reward(name, REWARDS[name], options, judge) for name in names]


def score_rows(
    names: Sequence[str],
    weights: Sequence[float] | None,
    rows: Sequence[Mapping[str, Any]],
    options: RewardOptions,
    judge: JudgeLike | None = None,
) -> list[Value]:
    """The weighted sum of the named rewards for each row (a dict with `completion` and the dataset columns).

    As in TRL (a NaN-skipping sum): a reward that is None for a row is left out; the row's value is None only when
    every named reward is None for it. `weights` None means 1.0 each.
    """
    _check_names(names)
    weights = [1.0] * len(names) if weights is None else list(weights)
    if len(weights) != len(names):
        raise ValueError(f"{len(weights)} weights for {len(names)} rewards {list(names)}")
    missing = [i for i, row in enumerate(rows) if "completion" not in row]
    if missing:
        raise ValueError(f"rows {missing[:10]} have no 'completion'")
    texts = [completion_text(row["completion"]) for row in rows]
    context = Context(options, judge)
    totals: list[Value] = [None] * len(rows)
    for name, weight in zip(names, weights, strict=True):
        for i, value in enumerate(REWARDS[name].rule(texts, rows, context)):
            if value is not None:
                totals[i] = (totals[i] or 0.0) + weight * value
    return totals


def default_task(names: Sequence[str]) -> str | None:
    """The natural task of the first named reward that has one (samchat for samchat_keyword, ...); None when every
    named reward scores any row (format, completion_length)."""
    return next((REWARDS[name].tasks[0] for name in names if name in REWARDS and REWARDS[name].tasks), None)


def unscored_tasks(names: Sequence[str], rule_tasks: Mapping[str, int]) -> str | None:
    """Why the named rewards cannot train on rows of these accuracy rules (a row's reward_method, else its task, with
    its row count), or None. Each reward returns None for a row whose rule it lacks, so a task no accuracy reward
    scores would train on the format reward alone, silently. Rewards that score every row (format,
    completion_length) chosen alone are a smoke test, and pass."""
    _check_names(names)
    scoring = [name for name in names if REWARDS[name].tasks]
    if not scoring:
        return None
    missing = {
        task: count for task, count in rule_tasks.items() if task and not any(task in REWARDS[n].tasks for n in names)
    }
    if not missing:
        return None
    listed = ", ".join(f"{task!r} ({count} rows)" for task, count in sorted(missing.items()))
    would = sorted({name for name, reward in REWARDS.items() for task in missing if task in reward.tasks})
    return (
        f"task {listed}: none of the chosen rewards ({', '.join(names)}) scores it; add one that does "
        f"({', '.join(would) or 'none registered'}) to reward_funcs, or leave those rows out"
    )
