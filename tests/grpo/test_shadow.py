"""Shadow strict metrics (grpo.rewards.shadow): the fraction of completions a paper-protocol reward pays for and its
strict rule rejects, logged beside the reward through TRL's `log_metric`; the rewards themselves are unchanged."""

import doctest

import pytest

from grpo.rewards import RewardOptions, shadow
from grpo.rewards.base import Context
from grpo.rewards.shadow import SHADOWS, strict_gap, strict_keyword, strict_label
from tests.grpo.test_rewards import call

OPTIONS = Context(RewardOptions())


def test_docstring_examples():
    failures, _ = doctest.testmod(shadow)
    assert failures == 0


@pytest.mark.parametrize(
    "paper, strict, expected",
    [
        ([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], 0.0),
        ([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], 1.0),
        ([1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], 0.25),  # only paper-yes strict-no counts, not the reverse
        ([0.5, 0.2, 0.0], [0.0, 1.0, 0.0], 1 / 3),  # any positive paper value is "rewarded"
        ([1.0, None, 1.0], [0.0, 0.0, None], 1.0),  # rows either rule leaves out are not counted
        ([None, None], [0.0, 1.0], None),
        ([], [], None),
    ],
)
def test_strict_gap(paper, strict, expected):
    assert strict_gap(paper, strict) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    "text, solution, expected",
    [
        ("<answer>A missile silo.</answer>", "1", 1.0),
        ("<answer>There are no military structures.</answer>", "1", 0.0),  # negated
        ("<answer>A paramilitary camp.</answer>", "1", 0.0),  # not a whole word
        ("<answer></answer>", "0", 0.0),  # empty answer, even on a civilian site
        ("<answer>   </answer>", "0", 0.0),
        ("<answer>Farmland.</answer>", "0", 1.0),
        ("<answer>No military presence here.</answer>", "0", 1.0),  # strict reads the negation
        ("<answer>A military base.</answer>", "0", 0.0),
        ("<answer>A military base.</answer>", "2", 0.0),
    ],
)
def test_strict_keyword(text, solution, expected):
    assert strict_keyword(text, {"solution": solution}, OPTIONS) == expected


@pytest.mark.parametrize(
    "text, solution, expected",
    [
        ("<answer>Airport.</answer>", "airport", 1.0),
        ("<answer>airport, port</answer>", "airport", 0.0),  # several classes
        ("<answer>airport, helipad</answer>", "airport", 0.0),  # a class not offered: token recall pays, strict not
        ("<answer></answer>", "", 0.0),  # empty answer never matches
        ("<answer>yes</answer>", "Yes", 1.0),
    ],
)
def test_strict_label(text, solution, expected):
    assert strict_label(text, {"solution": solution}, OPTIONS) == expected


def test_samchat_gap_counts_negations_substrings_and_empty_answers():
    completions = [
        "<answer>There are no military structures.</answer>",  # solution 1: paper 1, strict 0 (negated)
        "<answer>A paramilitary compound.</answer>",  # solution 1: paper 1, strict 0 (substring)
        "<answer></answer>",  # solution 0: paper 1, strict 0 (empty)
        "<answer>A missile silo.</answer>",  # solution 1: both 1
        "<answer>Farmland.</answer>",  # solution 0: both 1
        "<answer>Farmland.</answer>",  # solution 1: both 0
        "<answer>no military</answer>",  # a counting row: neither rule scores it
    ]
    solutions = ["1", "1", "0", "1", "0", "1", "3"]
    values, metrics = call("samchat_keyword", completions, solution=solutions, task=["samchat"] * 6 + ["counting"])
    assert values == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, None]  # the paper reward, unchanged
    assert dict(metrics)["shadow/samchat_keyword/strict_gap"] == pytest.approx(3 / 6)


def test_earthdial_accuracy_gap_only_on_label_rows():
    completions = ["<answer>airport, helipad</answer>", "<answer>airport</answer>", "<answer>[[1,1,5,5,0]]</answer>"]
    values, metrics = call(
        "earthdial_accuracy",
        completions,
        solution=["airport", "airport", "[[1,1,5,5,0]]"],
        task=["classification", "classification", "referring_detection"],
        question=["Classes: airport, beach.", "Classes: airport, beach.", "Where is the plane?"],
    )
    assert values[:2] == [1.0, 1.0]
    # 2 label rows scored by both rules, one of them rewarded by token recall and rejected by exact match.
    assert dict(metrics)["shadow/earthdial_accuracy/strict_gap"] == pytest.approx(0.5)


def test_rewards_without_a_shadow_log_none():
    _, metrics = call("geovlm_accuracy", ["<answer>farmland</answer>"], solution=["farmland"], task=["classification"])
    assert not any(name.startswith("shadow/") for name, _ in metrics)
    assert "geovlm_accuracy" not in SHADOWS
