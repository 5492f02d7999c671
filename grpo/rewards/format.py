"""Task-independent rewards on the shape of a completion: the R1 format reward and a length reward for smoke tests."""

from __future__ import annotations

from common.parsing import has_format

from .options import RewardOptions


def format_reward(text: str, options: RewardOptions) -> float:
    """SPEC 5 format reward: 1.0 when the completion has the R1 layout, else 0.0.

    mode "search" (SAMChat, TinyRS): `<reasoning>.*?</reasoning>\\s*<answer>.*?</answer>` matched from the start
    of the text (DOTALL), trailing text allowed. mode "fullmatch" (VLM-R1 / GeoVLM-R1, usually with `<think>`):
    the same pattern must cover the whole completion, surrounding whitespace aside. Tag names come from the
    options. `common.parsing.has_format` holds the rule, shared with the evaluation.

    >>> format_reward("<reasoning>r</reasoning> <answer>a</answer> more", RewardOptions())
    1.0
    >>> format_reward("<reasoning>r</reasoning> <answer>a</answer> more", RewardOptions(format_mode="fullmatch"))
    0.0
    """
    matched = has_format(text, think_tag=options.think_tag, answer_tag=options.answer_tag, mode=options.format_mode)
    return float(matched)


def completion_length(text: str, max_chars: int) -> float:
    """min(1, characters / max_chars): NOT a paper reward.

    A random tiny model scores 0 on format and accuracy, so every group has zero reward variance and GRPO learns
    nothing (PLATFORM.md); this reward varies with the sampled length, which lets the demo and the training tests
    see a learning signal through the same code path. Never use it for a paper recipe.

    >>> completion_length("abcd", 8)
    0.5
    """
    return min(1.0, len(text) / max_chars)
