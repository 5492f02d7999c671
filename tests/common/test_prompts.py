"""Snapshot tests: the protocol strings of SPEC 3-6, character for character.

A changed prompt silently changes what the released checkpoints see, so each string is pinned here as a literal
(copied from SPEC.md, not from common/prompts.py).
"""

import pytest

from common import prompts

SNAPSHOTS = {
    "DEFAULT_SYSTEM": "You are a helpful assistant.",
    "SAMCHAT_GRPO_SYSTEM": "You are an expert to analyze the image and provide useful information for users.",
    # The leading space joins it to the question: `{question} Output the thinking ...` (SPEC 4).
    "SAMCHAT_GRPO_SUFFIX": " Output the thinking process in <reasoning> </reasoning> and final answer (summary of "
    "thinking) in <answer> </answer> tags.",
    "SAMDATA_PROMPT": "Explain this image in detail within one paragraph, using 4-6 sentences.",
    "REASONING_SYSTEM": "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <reasoning> </reasoning> and <answer> "
    "</answer> tags, respectively, i.e., <reasoning> reasoning process here </reasoning><answer> answer here "
    "</answer>",
    "THINK_SYSTEM": "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think><answer> answer here "
    "</answer>",
    "TINYRS_CLS_PREFIX": "{CLS} ",
    "TINYRS_VQA_PREFIX": "{VQA} ",
    "TINYRS_VG_PREFIX": "{VG} ",
    "QWEN2VL_INSTRUCT_GROUNDING": "Make your chain of thought reasoning and then output the bounding box of the "
    "following object in the image. <|object_ref_start|>{query}<|object_ref_end|>",
    "QWEN2VL_GROUNDING": "Output the bounding box of the following object in the image. "
    "<|object_ref_start|>{query}<|object_ref_end|>",
    "JUDGE_MODEL": "gpt-4.1-mini-2025-04-14",
}


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_protocol_string_is_verbatim(name):
    assert getattr(prompts, name) == SNAPSHOTS[name]


def test_samchat_keywords_and_judge_temperature():
    assert prompts.SAMCHAT_KEYWORDS == ("military", "missile", "silo")
    assert prompts.JUDGE_TEMPERATURE == 0.2


def test_samchat_grpo_user_text_joins_question_and_suffix():
    # SPEC 4: user = image + "{question} Output the thinking process ..." with exactly one space between.
    text = "Is this a launch site?" + prompts.SAMCHAT_GRPO_SUFFIX
    assert text.startswith("Is this a launch site? Output the thinking process in <reasoning>")


def test_geovlm_r1_system_prompt_keeps_the_published_opening():
    # Only "You are an expert in Earth Observation reasoning" is GeoVLM-R1's; the rest is ours (common/prompts.py),
    # pinned so that training and evaluation prompts cannot drift apart silently.
    assert prompts.GEOVLM_R1_SYSTEM.startswith("You are an expert in Earth Observation reasoning. ")
    assert prompts.GEOVLM_R1_SYSTEM == (
        "You are an expert in Earth Observation reasoning. You analyse remote sensing images, single or as a time "
        "series, step by step. First think about the question inside <think> </think> tags, then give only the "
        "final answer inside <answer> </answer> tags. Give every box as [x1, y1, x2, y2, angle] with integer corners "
        "on a 0-100 grid of the image and the rotation angle in degrees."
    )
