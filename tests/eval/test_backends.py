"""Backend plumbing that needs only the tiny model's processor: the fully rendered prompt (snapshot), vLLM request
building and sampling parameters (vLLM itself is GPU-only and not installed here: a recording fake stands in for its
engine), stop tokens."""

import argparse
import importlib.util
import sys
import types

import pytest
from PIL import Image

from eval.backends import (
    Request,
    Sampling,
    VLLMBackend,
    add_model_arguments,
    load_backend,
    model_options,
    render_prompt,
    stop_token_ids,
    vllm_requests,
)
from eval.tasks import TASKS, PromptOptions
from eval.tasks.base import QWEN_STOP


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


class FakeLLM:
    """vllm.LLM's offline interface as VLLMBackend calls it: records the engine options and each generate call."""

    def __init__(self, **options):
        self.options = options
        self.calls = []

    def generate(self, prompts, *, sampling_params, use_tqdm):
        self.calls.append((prompts, sampling_params, use_tqdm))
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"reply {i}")]) for i in range(len(prompts))]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **params: params
    monkeypatch.setitem(sys.modules, "vllm", module)


def test_vllm_backend_serves_batch_and_stream_through_one_engine(fake_vllm, tiny_model_dir):
    backend = load_backend("vllm", str(tiny_model_dir), dtype="auto", attn_implementation="auto", max_pixels=50176)
    assert backend.llm.options == {
        "model": str(tiny_model_dir),
        "dtype": "auto",
        "seed": 0,
        "tensor_parallel_size": 1,
        "limit_mm_per_prompt": {"image": 4},
        "mm_processor_kwargs": {"max_pixels": 50176},
    }
    image = Image.new("RGB", (32, 32))
    one = Request(TASKS["samdata"].messages({"id": "0_a.png"}, PromptOptions()), image)
    two = Request(TASKS["samdata"].messages({"id": "1_b.png"}, PromptOptions()), [image])
    stop_ids = stop_token_ids(backend.processor.tokenizer, QWEN_STOP)

    # eval's batch: greedy, one engine call for every request, with a progress bar
    assert [g.text for g in backend.generate([one, two], max_new_tokens=8, stop=QWEN_STOP)] == ["reply 0", "reply 1"]
    prompts, params, progress = backend.llm.calls[-1]
    assert prompts == vllm_requests(backend.processor, [one, two])
    assert params == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "stop_token_ids": stop_ids,
                      "skip_special_tokens": True}  # fmt: skip
    assert progress is True

    # the demo's stream: the same engine and request building, the sliders' sampling, the whole reply at once
    streamed = backend.stream(two, max_new_tokens=12, stop=QWEN_STOP, sampling=Sampling(0.7, 0.8))
    assert list(streamed) == ["reply 0"]
    prompts, params, progress = backend.llm.calls[-1]
    assert prompts == vllm_requests(backend.processor, [two])
    assert params == {"temperature": 0.7, "top_p": 0.8, "max_tokens": 12, "stop_token_ids": stop_ids,
                      "skip_special_tokens": True}  # fmt: skip
    assert progress is False
    assert len(backend.llm.calls) == 2


def test_vllm_tensor_parallel_size(fake_vllm, tiny_model_dir):
    backend = load_backend("vllm", str(tiny_model_dir), dtype="auto", attn_implementation="auto",
                           min_pixels=None, max_pixels=None, tensor_parallel_size=2)  # fmt: skip
    assert backend.llm.options["tensor_parallel_size"] == 2
    with pytest.raises(ValueError, match="--tensor-parallel-size is for --backend vllm"):
        load_backend("hf", str(tiny_model_dir), tensor_parallel_size=2)
    with pytest.raises(ValueError, match="--tensor-parallel-size must be at least 1, got 0"):
        load_backend("vllm", str(tiny_model_dir), tensor_parallel_size=0)


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        # defaults: everything resolved by common.modeling from availability, the checkpoint's pixel limits
        ([], {"dtype": "auto", "attn_implementation": "auto", "min_pixels": None, "max_pixels": None}),
        # eval.run's and the demo's spelling of the same four options
        (
            ["--dtype", "bfloat16", "--attn-implementation", "sdpa", "--min-pixels", "3136", "--max-pixels", "50176"],
            {"dtype": "bfloat16", "attn_implementation": "sdpa", "min_pixels": 3136, "max_pixels": 50176},
        ),
    ],
)
def test_model_arguments(argv, options):
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    assert model_options(parser.parse_args(argv)) == options


@pytest.mark.parametrize(
    "argv",
    [
        # the training recipes' names, as their parsers accept them: underscored and dashed
        ["--attn_implementation", "sdpa", "--image_min_pixels", "3136", "--image_max_pixels", "50176"],
        ["--attn-implementation", "sdpa", "--image-min-pixels", "3136", "--image-max-pixels", "50176"],
        # the GRPO papers' names (PAPER_GRPO_ALIASES) and eval's first ones
        ["--attn-implementation", "sdpa", "--min_pixels", "3136", "--max_pixels", "50176"],
    ],
)
def test_model_arguments_take_the_recipes_names(argv):
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    expected = {"dtype": "auto", "attn_implementation": "sdpa", "min_pixels": 3136, "max_pixels": 50176}
    assert model_options(parser.parse_args(argv)) == expected


def test_eval_run_takes_the_recipes_names_for_model_and_output_dir():
    from eval.run import build_parser

    argv = ["--tasks", "samdata", "--data-root", "d", "--model_name_or_path", "m", "--output_dir", "o", "--log_level",
            "DEBUG"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert (args.model, args.output_dir, args.log_level) == ("m", "o", "DEBUG")
