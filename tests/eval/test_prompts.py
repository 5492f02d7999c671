"""Prompt snapshots: the exact text of one sample per task and prompt style, so a prompt cannot change silently.

The expected strings are written out by hand from SPEC 6 and upstream's ScoreRS script (see eval.tasks.scorers);
they are never regenerated from the code under test.
"""

import pytest

from eval.tasks import PROMPT_STYLES, TASKS, PromptOptions
from eval.tasks.geovlm import TASK_NAMES

DEFAULT = "You are a helpful assistant."
R1 = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <reasoning> </reasoning> and <answer> </answer> tags, "
    "respectively, i.e., <reasoning> reasoning process here </reasoning><answer> answer here </answer>"
)
R1_THINK = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think><answer> answer here </answer>"
)

CLS_Q = "<image>\nClassify the given image in one of the following classes. Classes: airport, forest."
VQA_Q = "<image>\nIs there a road in the image?"
VG_Q = "<image>\nthe large storage tank on the left"
MCQ_Q = "<image>\nWhat kind of scene is shown?\nA. airport\nB. forest"

CLS_TEXT = "Classify the given image in one of the following classes. Classes: airport, forest."
VQA_TEXT = "Is there a road in the image?"
VG_TEXT = "the large storage tank on the left"
MCQ_TEXT = "What kind of scene is shown?\nA. airport\nB. forest"

# (question, style) -> user text; TinyRS prefixes, Qwen2-VL styles keep upstream's joining spaces.
EXPECTED_USER = {
    ("cls", "tinyrs"): "{CLS} " + CLS_TEXT,
    ("cls", "qwen2vl_instruct"): " " + CLS_TEXT,
    ("cls", "qwen2vl"): " " + CLS_TEXT,
    ("vqa", "tinyrs"): "{VQA} Is there a road in the image? ",
    ("vqa", "qwen2vl_instruct"): " Is there a road in the image? ",
    ("vqa", "qwen2vl"): " Is there a road in the image? ",
    ("bbox", "tinyrs"): "{VG} the large storage tank on the left ",
    ("bbox", "qwen2vl_instruct"): "Make your chain of thought reasoning and then output the bounding box of the "
    "following object in the image. <|object_ref_start|> the large storage tank on the left <|object_ref_end|>",
    ("bbox", "qwen2vl"): "Output the bounding box of the following object in the image. <|object_ref_start|> "
    "the large storage tank on the left <|object_ref_end|>",
    ("mcq", "tinyrs"): MCQ_TEXT,
    ("mcq", "qwen2vl_instruct"): MCQ_TEXT,
    ("mcq", "qwen2vl"): MCQ_TEXT,
}
QUESTION = {"cls": CLS_Q, "vqa": VQA_Q, "bbox": VG_Q, "mcq": MCQ_Q}
SCORERS_KEYS = [key for key, task in TASKS.items() if task.family == "scorers"]


def _texts(messages):
    system, user = messages
    assert system["role"] == "system" and user["role"] == "user"
    assert user["content"][0] == {"type": "image"}  # the image always comes before the text
    return system["content"][0]["text"], user["content"][1]["text"]


@pytest.mark.parametrize("style", PROMPT_STYLES)
@pytest.mark.parametrize("key", SCORERS_KEYS)
def test_scorers_prompt_snapshot(key, style):
    task = TASKS[key]
    row = {"id": "0", "question": QUESTION[task.kind]}
    assert _texts(task.messages(row, PromptOptions(style, reasoning=False))) == (
        DEFAULT,
        EXPECTED_USER[(task.kind, style)],
    )
    assert _texts(task.messages(row, PromptOptions(style, reasoning=True)))[0] == R1


def test_scorers_task_kinds():
    kinds = {key: TASKS[key].kind for key in SCORERS_KEYS}
    assert [k for k, v in kinds.items() if v == "cls"] == [
        "cls_aid",
        "cls_METER_ML",
        "cls_NWPU_RESISC45",
        "cls_SIRI",
        "cls_WHU_RS19",
    ]
    assert [k for k, v in kinds.items() if v == "vqa"] == [
        "vqa_HR-comp",
        "vqa_HR-pre",
        "vqa_LR-comp",
        "vqa_LR-pre",
        "vqa_LR-rural",
    ]
    assert (kinds["rs_vg"], kinds["lhrs_bench"]) == ("bbox", "mcq")
    assert {TASKS[k].max_new_tokens for k in SCORERS_KEYS} == {1024}
    assert {TASKS[k].stop for k in SCORERS_KEYS} == {("<|im_end|>",)}


def test_scorers_prompt_needs_a_style():
    with pytest.raises(ValueError, match="prompt style"):
        TASKS["cls_aid"].messages({"id": "0", "question": CLS_Q}, PromptOptions(None))


@pytest.mark.parametrize("style", [None, *PROMPT_STYLES])
@pytest.mark.parametrize("reasoning", [False, True])
def test_samdata_prompt_snapshot(style, reasoning):
    task = TASKS["samdata"]
    messages = task.messages({"id": "0_a.png"}, PromptOptions(style, reasoning))
    assert _texts(messages) == (DEFAULT, "Explain this image in detail within one paragraph, using 4-6 sentences.")
    assert task.max_new_tokens == 32768
    assert task.stop == ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@pytest.mark.parametrize("name", TASK_NAMES)
def test_geovlm_prompt_snapshot(name):
    task = TASKS[f"geovlm_{name}"]
    row = {"id": "1", "question": "<image>How many houses are there in the image?"}
    assert _texts(task.messages(row, PromptOptions("qwen2vl"))) == (DEFAULT, "How many houses are there in the image?")
    assert _texts(task.messages(row, PromptOptions("qwen2vl", reasoning=True)))[0] == R1_THINK
