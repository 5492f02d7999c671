"""SAMData-300-Test (SAMChat, SPEC 2.5 and 6.1): does the caption of a site flag it as military?

The model captions each image; a caption is a positive prediction when it names a keyword. Ground truth is the
first character of the file name: "0" (easy) and "1" (hard) are military sites, "2" civilian.

- paper: the `<answer>` group (case-insensitive tags) or the whole text, lower-cased; positive = any keyword is a
  substring (so "paramilitary" and "no military structures" are positives, as upstream counted them).
- strict: the same text; positive = a keyword as a whole word that is not negated (`mentions_keyword_strict`).

`predicted_positive` is what the SAMChat keyword reward needs too (the GRPO rewards may import it).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence

from common.data import SAMDATA_CATEGORIES, read_samdata_test
from common.parsing import contains_keyword, extract_answer, mentions_keyword_strict
from common.prompts import SAMCHAT_KEYWORDS, SAMDATA_PROMPT

from .base import QWEN_STOP, PromptOptions, Row, ScoreOptions, Task, error_row, paper_rows, ratio

POSITIVE_CATEGORIES = ("0", "1")
# Upstream allowed 32768 new tokens (SPEC 6.1); `--max-new-tokens` caps it for small models that never stop.
MAX_NEW_TOKENS = 32768


def caption_text(prediction: str) -> str:
    """The part of a caption the keyword test reads (SPEC 6.1): the `<answer>` group if any, lower-cased."""
    return extract_answer(prediction, ignore_case=True).lower()


def predicted_positive(prediction: str, protocol: str = "paper", keywords: Iterable[str] = SAMCHAT_KEYWORDS) -> bool:
    """Whether a caption flags the site: substring test (paper) or whole-word, negation-aware test (strict).

    >>> predicted_positive("There are no military structures.", "paper")
    True
    >>> predicted_positive("There are no military structures.", "strict")
    False
    """
    return _predicted_positive(prediction, protocol, tuple(keywords))


# The bootstrap intervals (eval.intervals) rescore every resampled row a thousand times: parse each caption once.
@functools.lru_cache(maxsize=1 << 16)
def _predicted_positive(prediction: str, protocol: str, keywords: tuple[str, ...]) -> bool:
    text = caption_text(prediction)
    if protocol == "paper":
        return contains_keyword(text, keywords)
    if protocol == "strict":
        return mentions_keyword_strict(text, keywords)
    raise ValueError(f"protocol must be 'paper' or 'strict', got {protocol!r}")


def category(row: Row) -> str:
    """Ground truth of a row: the first character of its image file name (SPEC 2.5)."""
    name = os.path.basename(row.get("image") or "") or str(row["id"])
    return name[:1]


def confusion(rows: Sequence[Row], is_positive: Callable[[Row], bool]) -> dict:
    """TP/FP/TN/FN, precision, recall, F1, accuracy and per-category correct/total (SPEC 6.1)."""
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    per_category = {c: {"correct": 0, "total": 0} for c in SAMDATA_CATEGORIES}
    for row in rows:
        truth = category(row)
        if truth not in per_category:
            raise ValueError(f"row {row['id']!r}: image name {row.get('image')!r} does not start with 0, 1 or 2")
        positive = is_positive(row)
        actual = truth in POSITIVE_CATEGORIES
        counts[("t" if positive == actual else "f") + ("p" if positive else "n")] += 1
        per_category[truth]["total"] += 1
        per_category[truth]["correct"] += positive == actual
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {
        **counts,
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * precision * recall, precision + recall),
        "accuracy": ratio(tp + tn, tp + fp + tn + fn),
        "per_category": per_category,
    }


def score_paper(rows: Sequence[Row], options: ScoreOptions) -> dict:
    return confusion(paper_rows(rows), lambda row: predicted_positive(row["prediction"], "paper"))


def score_strict(rows: Sequence[Row], options: ScoreOptions) -> dict:
    # An error is a wrong answer: a military site that was not flagged, or a civilian one that was.
    def is_positive(row: Row) -> bool:
        if row.get("error"):
            return category(row) not in POSITIVE_CATEGORIES
        return predicted_positive(row["prediction"], "strict")

    return confusion(rows, is_positive)


def load(data_root: str | os.PathLike) -> list[Row]:
    """One row per sample image, sorted by name; an unreadable image becomes an error row (never dropped)."""
    result = read_samdata_test(data_root, policy="skip")
    # read_samdata_test numbers the sample files in sorted order; the ignored entries are the non-samples.
    ignored = set(result.ignored)
    names = sorted(name for name in os.listdir(data_root) if name not in ignored)
    rows = [
        {"id": r.id, "image": r.images[0], "question": SAMDATA_PROMPT, "answer": "", "_index": r.index}
        for r in result.records
    ]
    for problem in result.problems:
        name = names[problem.index]
        rows.append(
            {
                **error_row(name, problem.message, image=os.path.join(os.path.abspath(data_root), name)),
                "_index": problem.index,
            }
        )
    rows.sort(key=lambda row: row.pop("_index"))
    return rows


def user(row: Row, options: PromptOptions) -> str:
    return SAMDATA_PROMPT


TASKS = {
    "samdata": Task(
        key="samdata",
        family="samdata",
        kind="samdata",
        load=load,
        user=user,
        scoring={"paper": score_paper, "strict": score_strict},
        headline="f1",
        max_new_tokens=MAX_NEW_TOKENS,
        stop=QWEN_STOP,
        description="SAMData-300-Test: military-site captions, keyword test (SPEC 6.1)",
    )
}
