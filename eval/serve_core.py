"""The web demo's logic, apart from its layout (`eval.serve`): upload checks, prompts, reply splitting, verdicts, and
the call into the generation backend. Everything here is testable without a browser or a web server.

Generation is the evaluation's own stack: the demo streams through the backend eval.run uses (eval.backends: one
model load, one prompt rendering, one stop-token list, greedy at temperature 0). The prompts are the evaluation's
own: the reasoning switch uses the R1 system prompt of SPEC 6.2, the SAMChat check is the `samdata` task's request
(SPEC 6.1), and the reply is split and judged with the same functions the scorers use, so what the demo shows is what
the benchmark would count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PIL import Image

from common.data import DataError, load_image
from common.parsing import extract_answer, scorers_answer
from common.prompts import DEFAULT_SYSTEM, REASONING_SYSTEM
from eval.backends import (
    MAX_IMAGES_PER_PROMPT,
    HFBackend,
    Request,
    Sampling,
    VLLMBackend,
    check_max_new_tokens,
)
from eval.tasks import TASKS, PromptOptions
from eval.tasks.base import QWEN_STOP
from eval.tasks.samdata import predicted_positive

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a large GeoTIFF tile fits; anything bigger is refused before decoding
# Qwen2-VL's context holds a few images at the default pixel limits; the vLLM engine is built for as many.
MAX_IMAGES = MAX_IMAGES_PER_PROMPT
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
        if exc.message.startswith("image too large"):  # the pixel limit, checked from the header before decoding
            raise UploadError(f"{name}: {exc.message}") from exc
        raise UploadError(f"{name}: not a readable image (PNG, JPEG or GeoTIFF expected)") from exc
    except MemoryError as exc:  # within the pixel limit but still too big for this server's memory
        raise UploadError(f"{name}: too large to decode on this server") from exc


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
    """The demo's decoding sliders; temperature 0 is greedy, the evaluation's decoding."""

    temperature: float = 0.0
    max_new_tokens: int = 256
    top_p: float = 1.0

    def __post_init__(self) -> None:
        # The backends' own checks, so a bad slider value fails here with the message a backend call would give.
        Sampling(self.temperature, self.top_p)
        check_max_new_tokens(self.max_new_tokens)

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.temperature, self.top_p)


def stream_reply(
    backend: HFBackend | VLLMBackend, messages: list[dict], images: Sequence[Image.Image], settings: Settings
) -> Iterator[str]:
    """The reply so far as the backend streams it (eval's backend, loaded once): the Qwen2-VL stop tokens every
    task uses, the demo's sliders for decoding."""
    request = Request(messages, list(images))
    return backend.stream(request, max_new_tokens=settings.max_new_tokens, stop=QWEN_STOP, sampling=settings.sampling)
