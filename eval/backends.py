"""Generation backends, the one generation stack of evaluation and the web demo: `hf` (transformers `generate`,
batched with left padding; CPU or GPU) and `vllm` (GPU, one batched `LLM.generate` call; optional import).

Each backend loads the model once (common.modeling: pixel limits, dtype, attention) and serves two calls over the
same request preparation, chat-template rendering, stop tokens and decoding settings:
- `generate(requests, ...)`: a batch, for eval.generate's predictions files;
- `stream(request, ...)`: one request, yielding the reply so far, for the web demo (vLLM's offline engine has no
  token streaming, so it yields the whole reply once).
Both take the same requests (chat messages + one RGB image, or several in prompt order), stop at the given stop
tokens and decode greedily unless a `Sampling` with a temperature above 0 is given (the demo's sliders), so a
predictions file does not depend on which backend wrote it beyond numerical noise, and the demo's greedy reply is the
reply eval records. The chat template is the checkpoint's own (the processor's), rendered the same way for both.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Iterator, Sequence
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


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked: greedy at temperature 0 (the evaluation's decoding), else sampled from the
    temperature-scaled distribution cut to its top_p nucleus. No top-k: the same two knobs mean the same on both
    backends (vLLM's top_k is off by default; transformers' must be switched off explicitly)."""

    temperature: float = 0.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


GREEDY = Sampling()


def check_max_new_tokens(max_new_tokens: int) -> int:
    if max_new_tokens < 1:
        raise ValueError(f"max new tokens must be >= 1, got {max_new_tokens}")
    return max_new_tokens


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
    """transformers generate over left-padded batches, or one request streamed; the model's own generation config
    replaced by the request's decoding settings."""

    name = "hf"

    def __init__(self, model: Any, processor: Any):
        self.model = model.eval()
        self.processor = processor
        # Decoder-only batched generation needs the prompts flush right, so every row's next token is at the end.
        self.processor.tokenizer.padding_side = "left"
        # One generation at a time: the demo queues requests (concurrency 1), this lock keeps direct callers honest.
        self._lock = threading.Lock()

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

    def _inputs(self, requests: Sequence[Request]) -> Any:
        return self.processor(
            text=[render_prompt(self.processor, r.messages) for r in requests],
            # One image per request keeps the flat list; several images per request go as one list each.
            images=[r.images[0] for r in requests]
            if all(len(r.images) == 1 for r in requests)
            else [r.images for r in requests],
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)

    def _config(self, max_new_tokens: int, stop: Sequence[str], sampling: Sampling) -> Any:
        from transformers import GenerationConfig

        tokenizer = self.processor.tokenizer
        # A fresh config with every decoding knob set: transformers fills unset ones from the checkpoint's generation
        # config (Qwen2-VL ships top_k 1, top_p 0.001, temperature 0.01), which must not leak into greedy evaluation
        # nor turn the demo's sampling back into near-greedy decoding.
        knobs = {} if sampling.greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
        return GenerationConfig(
            do_sample=not sampling.greedy,
            **knobs,
            max_new_tokens=check_max_new_tokens(max_new_tokens),
            eos_token_id=stop_token_ids(tokenizer, stop),
            pad_token_id=tokenizer.pad_token_id,
        )

    def generate(
        self,
        requests: Sequence[Request],
        *,
        max_new_tokens: int,
        stop: Sequence[str],
        sampling: Sampling = GREEDY,
    ) -> list[Generation]:
        import torch

        config = self._config(max_new_tokens, stop, sampling)
        inputs = self._inputs(requests)
        with self._lock, torch.inference_mode():
            output = self.model.generate(**inputs, generation_config=config)
        texts = self.processor.tokenizer.batch_decode(
            output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
        patch = self.processor.image_processor.patch_size
        grids = inputs["image_grid_thw"].tolist()
        # image_grid_thw has one row per image: a request's input_size is that of its first image.
        firsts = [sum(len(r.images) for r in requests[:i]) for i in range(len(requests))]
        sizes = [[int(grids[i][2]) * patch, int(grids[i][1]) * patch] for i in firsts]
        return [Generation(text, size) for text, size in zip(texts, sizes)]

    def stream(
        self, request: Request, *, max_new_tokens: int, stop: Sequence[str], sampling: Sampling = GREEDY
    ) -> Iterator[str]:
        """The reply so far, each time TextIteratorStreamer decodes more of it (generation runs on a worker thread);
        the last text yielded is what `generate([request], ...)` returns."""
        import torch
        from transformers import TextIteratorStreamer

        config = self._config(max_new_tokens, stop, sampling)
        inputs = self._inputs([request])
        streamer = TextIteratorStreamer(
            self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, generation_config=config, streamer=streamer)
            except BaseException as exc:  # re-raised on the caller's thread below
                errors.append(exc)
                streamer.end()

        with self._lock:
            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            text = ""
            for piece in streamer:
                text += piece
                yield text
            thread.join()
        if errors:
            raise errors[0]


def vllm_requests(processor: Any, requests: Sequence[Request]) -> list[dict]:
    """vLLM's multi-modal prompt dicts: the rendered chat text and the image it refers to."""
    return [{"prompt": render_prompt(processor, r.messages), "multi_modal_data": {"image": r.image}} for r in requests]


# The most images one prompt carries (EarthDial's MUDS and FMoW rows: four dates; the demo's upload limit).
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
        tensor_parallel_size: int = 1,
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
            # A checkpoint larger than one GPU: its layers split over this many GPUs (eval.shard gives each rank
            # of a data-parallel run its own set).
            tensor_parallel_size=tensor_parallel_size,
            limit_mm_per_prompt={"image": MAX_IMAGES_PER_PROMPT},
            mm_processor_kwargs=pixels or None,
        )
        self.processor = load_processor(name_or_path, **pixels)

    def sampling_params(self, max_new_tokens: int, stop: Sequence[str], sampling: Sampling = GREEDY) -> Any:
        return self._vllm.SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=check_max_new_tokens(max_new_tokens),
            stop_token_ids=stop_token_ids(self.processor.tokenizer, stop),
            skip_special_tokens=True,
        )

    def generate(
        self,
        requests: Sequence[Request],
        *,
        max_new_tokens: int,
        stop: Sequence[str],
        sampling: Sampling = GREEDY,
        progress: bool = True,
    ) -> list[Generation]:
        params = self.sampling_params(max_new_tokens, stop, sampling)
        outputs = self.llm.generate(vllm_requests(self.processor, requests), sampling_params=params, use_tqdm=progress)
        return [Generation(output.outputs[0].text) for output in outputs]

    def stream(
        self, request: Request, *, max_new_tokens: int, stop: Sequence[str], sampling: Sampling = GREEDY
    ) -> Iterator[str]:
        """The offline engine has no token streaming: the whole reply, once."""
        (generation,) = self.generate(
            [request], max_new_tokens=max_new_tokens, stop=stop, sampling=sampling, progress=False
        )
        yield generation.text


MODEL_OPTIONS = ("dtype", "attn_implementation", "min_pixels", "max_pixels")
# --model, also under the training recipes' name for the checkpoint (eval.run, eval.serve).
MODEL_FLAGS = ("--model", "--model-name-or-path", "--model_name_or_path")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The backend's model options as command-line flags, the same in eval.run and the web demo, so the demo sees
    an image as the evaluation does. Each takes the training recipes' name, dashed or underscored as the training
    parsers accept it (--image-max-pixels / --image_max_pixels); eval's first names (--max-pixels) and the GRPO
    papers' (--max_pixels) stay accepted. The parsed names (`MODEL_OPTIONS`) are unchanged."""
    group = parser.add_argument_group("model (the training recipes' names; older spellings after them)")
    group.add_argument("--dtype", default="auto", help="auto: bf16 on a GPU that has it, else fp32")
    group.add_argument(
        "--attn-implementation",
        "--attn_implementation",
        default="auto",
        help="hf backend only (vLLM picks its own kernels)",
    )
    for bound in ("min", "max"):
        group.add_argument(
            f"--image-{bound}-pixels",
            f"--image_{bound}_pixels",
            f"--{bound}-pixels",
            f"--{bound}_pixels",
            dest=f"{bound}_pixels",
            type=int,
            default=None,
            metavar="N",
            help=f"{bound}imum pixels per image (processor); default: the checkpoint's",
        )


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options add_model_arguments parsed, as load_backend takes them."""
    return {key: getattr(args, key) for key in MODEL_OPTIONS}


def load_backend(name: str, model: str, **options: Any) -> HFBackend | VLLMBackend:
    """The backend `name` on checkpoint `model`; options: dtype, attn_implementation (hf only), min/max_pixels,
    tensor_parallel_size (vllm only; 1 is accepted by both)."""
    tensor_parallel_size = options.pop("tensor_parallel_size", 1)
    if tensor_parallel_size < 1:
        raise ValueError(f"--tensor-parallel-size must be at least 1, got {tensor_parallel_size}")
    if name == "hf":
        if tensor_parallel_size != 1:
            raise ValueError("--tensor-parallel-size is for --backend vllm (the hf backend runs on one device)")
        return HFBackend.from_pretrained(model, **options)
    if name == "vllm":
        options.pop("attn_implementation", None)  # vLLM picks its own attention kernels
        return VLLMBackend(model, tensor_parallel_size=tensor_parallel_size, **options)
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
