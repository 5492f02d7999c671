"""Shadow strict metrics: how often a paper-protocol reward pays for an answer its strict counterpart rejects.

Beside each reward named in SHADOWS, every step logs `shadow/<reward>/strict_gap`: among the completions both rules
score, the fraction the paper rule rewards (value > 0) and the strict rule rejects (value 0). A gap that grows while
the reward climbs is reward hacking showing during the run, not after it (negated keywords, empty answers, several
classes named, labels outside the offered list that token recall still pays for). The rewards stay as they are: the strict rule only
reads the same completions, and the metric goes through TRL's `log_metric` like `samchat/all_keywords_frac`.

| reward | paper rule | strict rule (the eval's strict protocol for the same task) |
|---|---|---|
| samchat_keyword | a keyword is a substring of the answer (SPEC 5) | a non-empty answer; a keyword as a whole word, not negated (`mentions_keyword_strict`, SAMData strict) |
| earthdial_classification | token recall, several-classes gate | exact label after `normalise_label` (EarthDial strict) |
| earthdial_vqa | token-set Jaccard | exact label after `normalise_label` (EarthDial strict) |
| earthdial_accuracy | the above on classification and VQA rows | as above; rows of other tasks have no shadow |

Rewards without a shadow already score as their strict protocol does (GeoVLM labels: exact match with the
several-classes gate; TinyRS short answers: exact match), or score continuously where "rejects" has no meaning
(IoU, F1, ROUGE).
"""

from __future__ import annotations

from collections.abc import Sequence

from common.parsing import mentions_keyword_strict, normalise_label

from .base import BatchRule, Context, Row, Value, answer_of, dispatch, per_sample, solution_of
from .earthdial import CLASSIFICATION_TASKS
from .samchat import NEGATIVE, POSITIVE, keyword_answer

GAP_METRIC = "shadow/{reward}/strict_gap"


def strict_keyword(text: str, row: Row, context: Context) -> Value:
    """SAMChat under the SAMData strict rule: an empty answer scores 0 on any site; otherwise a keyword named as a
    whole word and not negated means "military", which scores 1 on a "1" site and 0 on a "0" site.

    The answer is read exactly as `samchat_keyword` reads it (same tag and tag case), so the two rules differ only
    in the keyword test and the empty-answer gate."""
    options = context.options
    answer = keyword_answer(text, options.answer_tag, options.samchat_tag_case)
    if not answer:
        return 0.0
    found = mentions_keyword_strict(answer.lower(), options.keywords)
    label = solution_of(row).strip()
    if label == POSITIVE:
        return float(found)
    if label == NEGATIVE:
        return float(not found)
    return 0.0


def strict_label(text: str, row: Row, context: Context) -> Value:
    """EarthDial's strict protocol for labels: the normalised answer equals the normalised label (0 when empty)."""
    answer = normalise_label(answer_of(text, context))
    return float(bool(answer) and answer == normalise_label(solution_of(row)))


_EARTHDIAL_LABEL_TASKS = (*CLASSIFICATION_TASKS, "vqa")

# reward name -> its strict rule over the same rows (None where a row has no strict counterpart).
SHADOWS: dict[str, BatchRule] = {
    "samchat_keyword": dispatch({"samchat": per_sample(strict_keyword)}),
    "earthdial_classification": dispatch({task: per_sample(strict_label) for task in CLASSIFICATION_TASKS}),
    "earthdial_vqa": dispatch({"vqa": per_sample(strict_label)}),
    "earthdial_accuracy": dispatch({task: per_sample(strict_label) for task in _EARTHDIAL_LABEL_TASKS}),
}


def strict_gap(paper: Sequence[Value], strict: Sequence[Value]) -> float | None:
    """Fraction of the rows both rules score (neither value None) that the paper rule rewards (> 0) and the strict
    rule rejects (0); None when no row is scored by both.

    >>> strict_gap([1.0, 1.0, 0.0, None, 0.5], [1.0, 0.0, 0.0, 0.0, None])
    0.3333333333333333
    """
    pairs = [(p, s) for p, s in zip(paper, strict, strict=True) if p is not None and s is not None]
    if not pairs:
        return None
    return sum(p > 0 and s == 0 for p, s in pairs) / len(pairs)


def log_strict_gap(
    name: str, paper: Sequence[Value], texts: Sequence[str], rows: Sequence[Row], context: Context
) -> float | None:
    """Log `shadow/<name>/strict_gap` through the context's `log_metric` for a reward with a shadow; returns the gap
    (None, and nothing logged, when the reward has no shadow or no row is scored by both rules)."""
    rule = SHADOWS.get(name)
    if rule is None or context.log_metric is None:
        return None
    gap = strict_gap(paper, rule(texts, rows, context))
    if gap is not None:
        context.log_metric(GAP_METRIC.format(reward=name), gap)
    return gap
