"""Backend plumbing that needs only the tiny model's processor: the fully rendered prompt (snapshot), vLLM request
building (vLLM itself is GPU-only and not installed here), stop tokens."""

import importlib.util

import pytest
from PIL import Image

from eval.backends import Request, VLLMBackend, render_prompt, stop_token_ids, vllm_requests
from eval.tasks import TASKS, PromptOptions


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    from common.modeling import load_processor

    return load_processor(str(tiny_model_dir))


def test_rendered_samdata_prompt(processor):
    text = render_prompt(processor, TASKS["samdata"].messages({"id": "0_a.png"}, PromptOptions()))
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        "Explain this image in detail within one paragraph, using 4-6 sentences.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_rendered_grounding_prompt_reasoning(processor):
    row = {"id": "0", "question": "<image>\nthe tank"}
    text = render_prompt(processor, TASKS["rs_vg"].messages(row, PromptOptions("qwen2vl", reasoning=True)))
    assert text.startswith("<|im_start|>system\nA conversation between User and Assistant.")
    assert text.endswith(
        "<answer> answer here </answer><|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        "Output the bounding box of the following object in the image. <|object_ref_start|> the tank "
        "<|object_ref_end|><|im_end|>\n<|im_start|>assistant\n"
    )


def test_vllm_requests(processor):
    image = Image.new("RGB", (32, 32))
    messages = TASKS["samdata"].messages({"id": "0_a.png"}, PromptOptions())
    (request,) = vllm_requests(processor, [Request(messages, image)])
    assert request == {"prompt": render_prompt(processor, messages), "multi_modal_data": {"image": image}}


def test_stop_tokens(processor):
    ids = stop_token_ids(processor.tokenizer, TASKS["samdata"].stop)
    assert processor.tokenizer.convert_ids_to_tokens(ids) == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    with pytest.raises(ValueError, match="not in the tokenizer"):
        stop_token_ids(processor.tokenizer, ["<|no_such_token|>"])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_missing_is_a_clear_error():
    with pytest.raises(RuntimeError, match="--backend vllm needs the vllm package"):
        VLLMBackend("some/model")
