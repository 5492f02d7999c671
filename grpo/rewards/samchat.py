"""SAMChat keyword accuracy (SPEC 5): does the answer flag the site as military when, and only when, it is one?"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from common.parsing import contains_keyword, extract_answer
from eval.tasks.samdata import caption_text, predicted_positive

from .base import Context, Row, Value

# Metric a researcher watches for keyword stuffing: a policy that names every keyword in every answer games the
# rule on positives (SPEC 5 counts any keyword), at the price of every negative.
ALL_KEYWORDS_METRIC = "samchat/all_keywords_frac"
POSITIVE, NEGATIVE = "1", "0"


def _answer(text: str, answer_tag: str) -> str:
    # The SAMData metric reads the `<answer>` group with case-insensitive tags (SPEC 6.1); reading the configured
    # tag the same way keeps reward and metric on the same text.
    return extract_answer(text, answer_tag, ignore_case=True)


def keyword_reward(text: str, solution: str, keywords: Iterable[str], answer_tag: str = "answer") -> float:
    """SPEC 5, the paper rule: found = any keyword is a substring of the lower-cased answer; solution "1" scores 1.0
    when found, "0" scores 1.0 when not found; any other solution scores 0.0.

    "Found" is `eval.tasks.samdata.predicted_positive` under the paper protocol, the very test the SAMData-300-Test
    metric applies (SPEC 6.1), so the reward cannot drift from the reported precision and recall. Its quirks are
    the paper's: "paramilitary" and "no military presence" both count as found.

    >>> keyword_reward("<reasoning>r</reasoning><answer>A missile silo.</answer>", "1", ("military", "missile"))
    1.0
    >>> keyword_reward("<answer>No military presence.</answer>", "0", ("military",))
    0.0
    """
    found = predicted_positive(_answer(text, answer_tag), "paper", keywords)
    label = solution.strip()
    if label == POSITIVE:
        return float(found)
    if label == NEGATIVE:
        return float(not found)
    return 0.0


def names_every_keyword(text: str, keywords: Iterable[str], answer_tag: str = "answer") -> bool:
    """Whether the answer contains every keyword (the keyword-stuffing signal logged as samchat/all_keywords_frac).

    >>> names_every_keyword("<answer>military missile silo</answer>", ("military", "missile", "silo"))
    True
    """
    answer = caption_text(_answer(text, answer_tag))
    return all(contains_keyword(answer, keyword) for keyword in keywords)


def samchat_rule(texts: Sequence[str], rows: Sequence[Row], context: Context) -> list[Value]:
    """`keyword_reward` per row; also logs `samchat/all_keywords_frac` (fraction of these completions naming every
    keyword) through TRL's `log_metric` when it is given."""
    options = context.options
    values: list[Value] = [
        keyword_reward(text, str(row.get("solution", "")), options.keywords, options.answer_tag)
        for text, row in zip(texts, rows, strict=True)
    ]
    if context.log_metric is not None and texts:
        stuffed = sum(names_every_keyword(text, options.keywords, options.answer_tag) for text in texts)
        context.log_metric(ALL_KEYWORDS_METRIC, stuffed / len(texts))
    return values
