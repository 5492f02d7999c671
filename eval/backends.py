"""Generation backends: `hf` (transformers `generate`, batched with left padding; CPU or GPU) and `vllm` (GPU, one
batched `LLM.generate` call; optional import).

Both take the same requests (chat messages + one RGB image, or several in prompt order) and decode greedily, stopping at the task's stop tokens,
so a predictions file does not depend on which backend wrote it beyond numerical noise. The chat template is the
checkpoint's own (the processor's), rendered the same way for both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

logger = logging.getLogger(__name__)

BACKENDS = ("hf", "vllm")


@dataclass
class Request:
    messages: list[dict]
    image: Image.Image | list[Image.Image]  # one image, or several in prompt order (bi-temporal pairs, 4-date series)

    @property
    def images(self) -> list[Image.Image]:
        return list(self.image) if isinstance(self.image, list) else [self.image]


@dataclass
class Generation:
    text: str
    input_size: list[int] | None = None  # [w, h] of the image as the model saw it (after the processor's resize)


def render_prompt(processor: Any, messages: list[dict]) -> str:
    """The prompt text of one request: the checkpoint's chat template with the assistant turn opened."""
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def stop_token_ids(tokenizer: Any, stop: Sequence[str]) -> list[int]:
    """Ids of the stop tokens (each a single special token of the Qwen2-VL vocabulary)."""
    ids = []
    for token in stop:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"stop token {token!r} is not in the tokenizer's vocabulary")
        ids.append(token_id)
    return ids


class HFBackend:
    """transformers generate over left-padded batches; greedy, the model's own generation config replaced."""

    name = "hf"

    def __init__(self, model: Any, processor: Any):
        self.model = model.eval()
        self.processor = processor
        # Decoder-only batched generation needs the prompts flush right, so every row's next token is at the end.
        self.processor.tokenizer.padding_side = "left"

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        dtype: str = "auto",
        attn_implementation: str = "auto",
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> HFBackend:
        import torch

        from common.modeling import load_model, load_processor

        model = load_model(name_or_path, dtype=dtype, attn_implementation=attn_implementation)
        if torch.cuda.is_available() and model.device.type == "cpu":
            model = model.to("cuda")
        processor = load_processor(name_or_path, min_pixels=min_pixels, max_pixels=max_pixels, padding_side="left")
        return cls(model, processor)

    def generate(self, requests: Sequence[Request], *, max_new_tokens: int, stop: Sequence[str]) -> list[Generation]:
        import torch
        from transformers import GenerationConfig

        tokenizer = self.processor.tokenizer
        inputs = self.processor(
            text=[render_prompt(self.processor, r.messages) for r in requests],
            # One image per request keeps the flat list; several images per request go as one list each.
            images=[r.images[0] for r in requests]
            if all(len(r.images) == 1 for r in requests)
            else [r.images for r in requests],
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)
        # A fresh config: checkpoints ship sampling defaults (Qwen2-VL: top_k 1, temperature 0.01) that must not
        # leak into a greedy evaluation.
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=max_new_tokens,
            eos_token_id=stop_token_ids(tokenizer, stop),
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.inference_mode():
            output = self.model.generate(**inputs, generation_config=config)
        texts = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        patch = self.processor.image_processor.patch_size
        grids = inputs["image_grid_thw"].tolist()
        # image_grid_thw has one row per image: a request's input_size is that of its first image.
        firsts = [sum(len(r.images) for r in requests[:i]) for i in range(len(requests))]
        sizes = [[int(grids[i][2]) * patch, int(grids[i][1]) * patch] for i in firsts]
        return [Generation(text, size) for text, size in zip(texts, sizes)]


def vllm_requests(processor: Any, requests: Sequence[Request]) -> list[dict]:
    """vLLM's multi-modal prompt dicts: the rendered chat text and the image it refers to."""
    return [{"prompt": render_prompt(processor, r.messages), "multi_modal_data": {"image": r.image}} for r in requests]


# The most images one prompt carries (EarthDial's MUDS and FMoW rows: four dates).
MAX_IMAGES_PER_PROMPT = 4


class VLLMBackend:
    """vLLM offline inference: every request of a call goes to the engine at once (it schedules them itself)."""

    name = "vllm"

    def __init__(
        self,
        name_or_path: str,
        *,
        dtype: str = "auto",
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        seed: int = 0,
    ):
        try:
            import vllm
        except ImportError as exc:
            raise RuntimeError(
                "--backend vllm needs the vllm package (CUDA nodes only): install the GPU set (README, 'Install on a "
                "GPU cluster': constraints-gpu.txt with the gpu extra; vLLM does not install beside constraints.txt), "
                "or use --backend hf"
            ) from exc
        from common.modeling import load_processor

        self._vllm = vllm
        pixels = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
        self.llm = vllm.LLM(
            model=name_or_path,
            dtype=dtype,
            seed=seed,
            limit_mm_per_prompt={"image": MAX_IMAGES_PER_PROMPT},
            mm_processor_kwargs=pixels or None,
        )
        self.processor = load_processor(name_or_path, **pixels)

    def generate(self, requests: Sequence[Request], *, max_new_tokens: int, stop: Sequence[str]) -> list[Generation]:
        params = self._vllm.SamplingParams(
            temperature=0.0,
            max_tokens=max_new_tokens,
            stop_token_ids=stop_token_ids(self.processor.tokenizer, stop),
            skip_special_tokens=True,
        )
        outputs = self.llm.generate(vllm_requests(self.processor, requests), sampling_params=params, use_tqdm=True)
        return [Generation(output.outputs[0].text) for output in outputs]


def load_backend(name: str, model: str, **options: Any) -> HFBackend | VLLMBackend:
    if name == "hf":
        return HFBackend.from_pretrained(model, **options)
    if name == "vllm":
        options.pop("attn_implementation", None)  # vLLM picks its own attention kernels
        return VLLMBackend(model, **options)
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
