"""The web demo's logic, apart from its layout (`eval.serve`): upload checks, prompts, reply splitting, verdicts and
streamed generation. Everything here is testable without a browser or a web server.

The prompts are the evaluation's own: the reasoning switch uses the R1 system prompt of SPEC 6.2, the SAMChat check
is the `samdata` task's request (SPEC 6.1), and the reply is split and judged with the same functions the scorers
use, so what the demo shows is what the benchmark would count.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from common.data import DataError, load_image
from common.parsing import extract_answer, scorers_answer
from common.prompts import DEFAULT_SYSTEM, REASONING_SYSTEM
from eval.backends import render_prompt, stop_token_ids
from eval.tasks import TASKS, PromptOptions
from eval.tasks.base import QWEN_STOP
from eval.tasks.samdata import predicted_positive

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a large GeoTIFF tile fits; anything bigger is refused before decoding
MAX_IMAGES = 4  # Qwen2-VL's context holds a few images at the default pixel limits
# Shown in the reasoning pane when the reply has no complete `<reasoning>` block (the untrained tiny model never
# writes one); the answer pane then shows the whole reply, as the ScoreRS parser reads it (SPEC 6.2).
NO_REASONING = "(no <reasoning>…</reasoning> block in the reply)"
REASONING_TAG = "reasoning"


class UploadError(ValueError):
    """An upload the demo refuses; the message is shown in the UI as is (it names the file, never a temp path)."""


def validate_upload(path: str | os.PathLike, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Image.Image:
    """One uploaded file -> RGB image (common.data.load_image conversions), or UploadError with a readable reason."""
    name = os.path.basename(os.fspath(path))
    size = os.path.getsize(path)
    if size > max_bytes:
        raise UploadError(f"{name}: {size / 2**20:.1f} MiB is over the {max_bytes / 2**20:.0f} MiB upload limit")
    try:
        return load_image(path)
    except DataError as exc:
        raise UploadError(f"{name}: not a readable image (PNG, JPEG or GeoTIFF expected)") from exc


def load_uploads(paths: Sequence[str | os.PathLike], *, max_bytes: int = MAX_UPLOAD_BYTES) -> list[Image.Image]:
    """All uploads or none: one bad file refuses the request, so an answer never silently ignores an image."""
    if not paths:
        raise UploadError("upload at least one image")
    if len(paths) > MAX_IMAGES:
        raise UploadError(f"{len(paths)} images uploaded; at most {MAX_IMAGES} per question")
    return [validate_upload(path, max_bytes=max_bytes) for path in paths]


def chat_messages(question: str, n_images: int, *, reasoning: bool) -> list[dict]:
    """System prompt (default or R1 reasoning, SPEC 6.2), then the images before the question, as eval asks."""
    system = REASONING_SYSTEM if reasoning else DEFAULT_SYSTEM
    content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": question}]
    return [
        {"role": "system", "content": [{"type": "text", "text": system}]},
        {"role": "user", "content": content},
    ]


def samdata_messages() -> list[dict]:
    """The SAMData-Test request for one image, built by the eval task itself (SPEC 6.1)."""
    return TASKS["samdata"].messages({}, PromptOptions())


# The tags the panes are cut at. With the real Qwen2 vocabulary each is several tokens (`<`, `reason`, `ing`, `>`), so
# a streamed reply passes through their prefixes.
STREAM_TAGS = (f"<{REASONING_TAG}>", f"</{REASONING_TAG}>", "<answer>", "</answer>")


def hold_back_partial_tag(text: str) -> str:
    """`text` without a trailing incomplete tag (a proper prefix of one of STREAM_TAGS, e.g. `<`, `<reason`,
    `</ans`): the next tokens decide whether it is a tag, so a streaming pane shows it only once it is complete.

    >>> hold_back_partial_tag("<reasoning>two ring roads</reas")
    '<reasoning>two ring roads'
    >>> hold_back_partial_tag("a < b")
    'a < b'
    """
    start = text.rfind("<")
    if start < 0:
        return text
    tail = text[start:]
    if any(tag.startswith(tail) and tag != tail for tag in STREAM_TAGS):
        return text[:start]
    return text


def split_reply(text: str, *, streaming: bool = False) -> tuple[str, str]:
    """(reasoning, answer) of a reply: the `<reasoning>` group, and the answer as the ScoreRS parser cuts it.

    While a reply is still streaming (`streaming=True`), an opened but unclosed reasoning block is all reasoning and
    no answer yet, and a tag still being generated is held back (hold_back_partial_tag).

    >>> split_reply("<reasoning>two ring roads</reasoning><answer>missile site</answer>")
    ('two ring roads', 'missile site')
    >>> split_reply("farmland")
    ('(no <reasoning>…</reasoning> block in the reply)', 'farmland')
    >>> split_reply("<reason", streaming=True)
    ('(no <reasoning>…</reasoning> block in the reply)', '')
    """
    if streaming:
        text = hold_back_partial_tag(text)
    opening, closing = f"<{REASONING_TAG}>", f"</{REASONING_TAG}>"
    start = text.find(opening)
    if start >= 0 and text.find(closing, start) < 0:
        return text[start + len(opening) :].strip(), ""
    if start < 0:
        return NO_REASONING, scorers_answer(text).strip()
    return extract_answer(text, REASONING_TAG), scorers_answer(text).strip()


def samchat_verdicts(caption: str) -> dict[str, bool]:
    """Whether each SAMData protocol flags the caption as a military site: paper (substring) and strict."""
    return {protocol: predicted_positive(caption, protocol) for protocol in ("paper", "strict")}


@dataclass(frozen=True)
class Settings:
    temperature: float = 0.0  # 0 = greedy, the evaluation's decoding
    max_new_tokens: int = 256

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max new tokens must be >= 1, got {self.max_new_tokens}")


class HFStreamer:
    """transformers generation on a worker thread, yielding the reply so far as TextIteratorStreamer decodes it."""

    def __init__(self, model: Any, processor: Any):
        self.model = model.eval()
        self.processor = processor
        # One request at a time: the app queues requests (concurrency 1), this lock keeps direct callers honest.
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, name_or_path: str) -> HFStreamer:
        import torch

        from common.modeling import load_model_and_processor

        model, processor = load_model_and_processor(name_or_path)
        if torch.cuda.is_available() and model.device.type == "cpu":
            model = model.to("cuda")
        return cls(model, processor)

    def stream(self, messages: list[dict], images: Sequence[Image.Image], settings: Settings) -> Iterator[str]:
        import torch
        from transformers import GenerationConfig, TextIteratorStreamer

        tokenizer = self.processor.tokenizer
        inputs = self.processor(
            text=[render_prompt(self.processor, messages)], images=list(images), return_tensors="pt"
        ).to(self.model.device)
        sampling = settings.temperature > 0
        # A fresh config, as in eval: checkpoint sampling defaults must not leak into greedy decoding.
        config = GenerationConfig(
            do_sample=sampling,
            temperature=settings.temperature if sampling else None,
            max_new_tokens=settings.max_new_tokens,
            eos_token_id=stop_token_ids(tokenizer, QWEN_STOP),
            pad_token_id=tokenizer.pad_token_id,
        )
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
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


class VLLMGenerator:
    """vLLM offline engine (GPU): no token streaming in its offline API, so the whole reply arrives at once."""

    def __init__(self, name_or_path: str):
        try:
            import vllm
        except ImportError as exc:
            raise RuntimeError(
                "--backend vllm needs the vllm package (GPU only): pip install vllm, or use --backend hf"
            ) from exc
        from common.modeling import load_processor

        self._vllm = vllm
        self.llm = vllm.LLM(model=name_or_path, limit_mm_per_prompt={"image": MAX_IMAGES})
        self.processor = load_processor(name_or_path)

    def stream(self, messages: list[dict], images: Sequence[Image.Image], settings: Settings) -> Iterator[str]:
        params = self._vllm.SamplingParams(
            temperature=settings.temperature,
            max_tokens=settings.max_new_tokens,
            stop_token_ids=stop_token_ids(self.processor.tokenizer, QWEN_STOP),
            skip_special_tokens=True,
        )
        request = {"prompt": render_prompt(self.processor, messages), "multi_modal_data": {"image": list(images)}}
        (output,) = self.llm.generate([request], sampling_params=params, use_tqdm=False)
        yield output.outputs[0].text


def load_generator(backend: str, model: str) -> HFStreamer | VLLMGenerator:
    if backend == "hf":
        return HFStreamer.from_pretrained(model)
    if backend == "vllm":
        return VLLMGenerator(model)
    raise ValueError(f"backend must be 'hf' or 'vllm', got {backend!r}")
