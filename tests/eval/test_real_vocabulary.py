"""Evaluation on the real Qwen2-VL vocabulary: the stop tokens, the SAMData prompt's token ids, and what the scorers
read from a decoded reply (special tokens, the grounding markers included, are skipped on decode)."""

import pytest

from common.modeling import load_processor
from common.prompts import SAMDATA_PROMPT
from eval.backends import render_prompt, stop_token_ids
from eval.tasks import TASKS, PromptOptions
from eval.tasks.samdata import predicted_positive
from eval.tasks.scorers import predicted_box


@pytest.fixture(scope="module")
def processor(qwen2_tiny_model_dir):
    return load_processor(qwen2_tiny_model_dir, padding_side="left")


def test_stop_tokens_are_single_special_tokens(processor):
    assert stop_token_ids(processor.tokenizer, TASKS["samdata"].stop) == [151643, 151644, 151645]
    assert stop_token_ids(processor.tokenizer, TASKS["cls_aid"].stop) == [151645]


def test_samdata_prompt_token_ids(processor):
    text = render_prompt(processor, TASKS["samdata"].messages({"id": "0"}, PromptOptions()))
    ids = processor.tokenizer(text, add_special_tokens=False).input_ids
    question = processor.tokenizer(SAMDATA_PROMPT, add_special_tokens=False).input_ids
    # <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<vision span>question<|im_end|>...
    assert ids[:11] == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198]
    assert ids[11:17] == [151644, 872, 198, 151652, 151655, 151653]  # one <|image_pad|> before the processor expands it
    assert ids[17 : 17 + len(question)] == question
    assert ids[17 + len(question) :] == [151645, 198, 151644, 77091, 198]


@pytest.mark.parametrize(
    "generated, style, box",
    [
        # Qwen2-VL's grounding reply: the ref / box markers are special tokens, gone after decoding
        (
            "<|object_ref_start|>the tank<|object_ref_end|><|box_start|>(10,20),(300,400)<|box_end|><|im_end|>",
            "qwen2vl",
            (10.0, 20.0, 300.0, 400.0),
        ),  # fmt: skip
        (
            "<reasoning>A tank.</reasoning><answer>[[12, 34, 56, 78]]</answer><|im_end|>",
            "tinyrs",
            (12.0, 34.0, 56.0, 78.0),
        ),
    ],
)
def test_boxes_from_decoded_replies(processor, generated, style, box):
    tokenizer = processor.tokenizer
    decoded = tokenizer.decode(tokenizer(generated).input_ids, skip_special_tokens=True)
    assert "<|" not in decoded
    assert predicted_box(decoded, style, reasoning="<reasoning>" in generated) == box


def test_samdata_verdict_from_a_decoded_reply(processor):
    tokenizer = processor.tokenizer
    reply = "<reasoning>Revetments.</reasoning><answer>A missile site.</answer><|im_end|>"
    decoded = tokenizer.decode(tokenizer(reply).input_ids, skip_special_tokens=True)
    assert decoded == "<reasoning>Revetments.</reasoning><answer>A missile site.</answer>"
    assert predicted_positive(decoded, "paper") and predicted_positive(decoded, "strict")
