"""SAMChat keyword accuracy (SPEC 5): does the answer flag the site as military when, and only when, it is one?"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from common.parsing import contains_keyword, extract_answer

from .base import Context, Row, Value

# Metric a researcher watches for keyword stuffing: a policy that names every keyword in every answer games the
# rule on positives (SPEC 5 counts any keyword), at the price of every negative.
ALL_KEYWORDS_METRIC = "samchat/all_keywords_frac"
POSITIVE, NEGATIVE = "1", "0"


def keyword_answer(text: str, answer_tag: str, tag_case: str) -> str:
    """The answer samchat_keyword reads (also the shadow strict rule's, grpo.rewards.shadow)."""
    # The released reward matches `<answer>` case-sensitively (SPEC 5): `<Answer>x</Answer>` has no answer group, so
    # the whole completion is searched. Only the SAMData metric ignores tag case (SPEC 6.1); tag_case "insensitive"
    # reads the reward's answer that way too, keeping reward and metric on the same text (not the paper recipe).
    return extract_answer(text, answer_tag, ignore_case=tag_case == "insensitive")


def keyword_reward(
    text: str, solution: str, keywords: Iterable[str], answer_tag: str = "answer", tag_case: str = "sensitive"
) -> float:
    """SPEC 5, the paper rule: found = any keyword is a substring of the lower-cased answer; solution "1" scores 1.0
    when found, "0" scores 1.0 when not found; any other solution scores 0.0. The answer is the `<answer_tag>`
    group, tags matched case-sensitively as upstream (tag_case "insensitive": as the SAMData metric reads it).

    "Found" is `common.parsing.contains_keyword`, the very keyword test the SAMData-300-Test metric applies under
    the paper protocol (SPEC 6.1); the two differ only in the tag case of the `<answer>` group they read, as
    upstream's do. Its quirks are the paper's: "paramilitary" and "no military presence" both count as found.

    >>> keyword_reward("<reasoning>r</reasoning><answer>A missile silo.</answer>", "1", ("military", "missile"))
    1.0
    >>> keyword_reward("<answer>No military presence.</answer>", "0", ("military",))
    0.0
    >>> keyword_reward("<Answer></Answer> paramilitary", "0", ("military",))
    0.0
    """
    found = contains_keyword(keyword_answer(text, answer_tag, tag_case), keywords)
    label = solution.strip()
    if label == POSITIVE:
        return float(found)
    if label == NEGATIVE:
        return float(not found)
    return 0.0


def names_every_keyword(
    text: str, keywords: Iterable[str], answer_tag: str = "answer", tag_case: str = "sensitive"
) -> bool:
    """Whether the answer contains every keyword (the keyword-stuffing signal logged as samchat/all_keywords_frac).

    >>> names_every_keyword("<answer>military missile silo</answer>", ("military", "missile", "silo"))
    True
    """
    answer = keyword_answer(text, answer_tag, tag_case)
    return all(contains_keyword(answer, keyword) for keyword in keywords)


def samchat_rule(texts: Sequence[str], rows: Sequence[Row], context: Context) -> list[Value]:
    """`keyword_reward` per row; also logs `samchat/all_keywords_frac` (fraction of these completions naming every
    keyword) through TRL's `log_metric` when it is given."""
    options = context.options
    values: list[Value] = [
        keyword_reward(
            text, str(row.get("solution", "")), options.keywords, options.answer_tag, options.samchat_tag_case
        )
        for text, row in zip(texts, rows, strict=True)
    ]
    if context.log_metric is not None and texts:
        stuffed = sum(
            names_every_keyword(text, options.keywords, options.answer_tag, options.samchat_tag_case) for text in texts
        )
        context.log_metric(ALL_KEYWORDS_METRIC, stuffed / len(texts))
    return values
