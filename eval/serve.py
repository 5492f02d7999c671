"""Web demo: question any Qwen2-VL / Qwen2.5-VL checkpoint about aerial images in the browser (Gradio).

    python -m eval.serve --model outputs/demo/grpo [--host 127.0.0.1] [--port 7860] [--backend hf|vllm]
        [--dtype auto] [--attn-implementation auto] [--min-pixels N] [--max-pixels N]

Upload images (PNG, JPEG, GeoTIFF; converted to RGB as the data readers do), ask, and watch the answer stream.
"Reasoning" asks with the R1 system prompt (SPEC 6.2) and shows the `<reasoning>` block and the answer apart;
"SAMChat check" captions each image with the SAMData prompt (SPEC 6.1) and shows both protocols' verdicts. The logic
lives in `eval.serve_core`; generation is eval's backend (`eval.backends`, loaded once with eval.run's model
options); this module is the layout and the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import numpy as np

from common.noise import quiet_known_noise
from eval.backends import (
    BACKENDS,
    MODEL_FLAGS,
    HFBackend,
    VLLMBackend,
    add_model_arguments,
    load_backend,
    model_options,
)
from eval.serve_core import (
    MAX_UPLOAD_BYTES,
    NO_REASONING,
    Settings,
    UploadError,
    chat_messages,
    load_uploads,
    samchat_verdicts,
    samdata_messages,
    split_reply,
    stream_reply,
)

logger = logging.getLogger(__name__)

EXAMPLE_KINDS = ("positive_easy", "positive_hard", "negative")
DEFAULT_QUESTION = "What kind of site is shown in this image?"
# Requests that may wait behind the one being answered (--max-queue): enough for a few people trying the page at once.
MAX_QUEUE = 16
Outputs = tuple[str, str, str]  # answer pane, reasoning pane, status / verdict pane


def example_images(out_dir: Path, data_dir: Path | None = None, *, seed: int = 0) -> list[Path]:
    """One image per SAMData category: from a synthetic SAMData test folder if given, else freshly rendered."""
    if data_dir is not None and data_dir.is_dir():
        found = [next(iter(sorted(data_dir.glob(f"{c}_*.png"))), None) for c in ("0", "1", "2")]
        if all(found):
            return found
    # The one stage -> offline import (tests/test_layers.py names it): the demo page's fallback examples are
    # synthetic scenes; deferred so that serving a model never loads the offline kit when example files exist.
    from offline.synthetic.scenes import render_scene

    rng = np.random.default_rng(seed)
    paths = []
    for category, kind in enumerate(EXAMPLE_KINDS):
        image, _ = render_scene(kind, rng)
        path = out_dir / f"{category}_{kind}.png"
        image.save(path)
        paths.append(path)
    return paths


def _paths(files: list | None) -> list[str]:
    return [f if isinstance(f, str) else f.name for f in files or []]


def build_app(
    backend: HFBackend | VLLMBackend,
    examples: list[Path],
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_queue: int = MAX_QUEUE,
) -> gr.Blocks:
    def preview(files):
        # The browser cannot display GeoTIFF or 16-bit PNG: show what the model will see instead.
        try:
            return load_uploads(_paths(files), max_bytes=max_bytes), ""
        except UploadError as exc:
            return [], f"**Upload refused:** {exc}"

    def ask(files, question, reasoning, temperature, top_p, max_new_tokens) -> Iterator[Outputs]:
        try:
            images = load_uploads(_paths(files), max_bytes=max_bytes)
        except UploadError as exc:
            yield "", "", f"**Upload refused:** {exc}"
            return
        if not (question or "").strip():
            yield "", "", "**Ask a question first.**"
            return
        messages = chat_messages(question.strip(), len(images), reasoning=reasoning)
        settings = Settings(float(temperature), int(max_new_tokens), float(top_p))
        text = ""
        for text in stream_reply(backend, messages, images, settings):
            if reasoning:
                thought, answer = split_reply(text, streaming=True)
                yield answer, thought, "generating…"
            else:
                yield text, "", "generating…"
        thought, answer = split_reply(text) if reasoning else ("", text.strip())
        # An untrained model may emit only whitespace (the tiny one does, greedily): say so rather than show nothing.
        blank = "" if text.strip() else " (the reply was blank: try a temperature above 0)"
        yield answer, thought, f"done: {len(images)} image(s), {'reasoning' if reasoning else 'plain'} prompt{blank}"

    def check(files, temperature, top_p, max_new_tokens) -> Iterator[Outputs]:
        try:
            images = load_uploads(_paths(files), max_bytes=max_bytes)
        except UploadError as exc:
            yield "", "", f"**Upload refused:** {exc}"
            return
        settings = Settings(float(temperature), int(max_new_tokens), float(top_p))
        captions: list[str] = []
        rows = ["| image | paper (substring) | strict (whole word, not negated) |", "|---|---|---|"]
        # SAMData asks about one image per request (SPEC 6.1), so each upload is captioned and judged on its own.
        for number, image in enumerate(images, 1):
            caption = ""
            for caption in stream_reply(backend, samdata_messages(), [image], settings):
                yield "\n\n".join([*captions, f"[image {number}] {caption}"]), "", "\n".join(rows)
            captions.append(f"[image {number}] {caption.strip()}")
            verdict = samchat_verdicts(caption)
            rows.append(f"| {number} | {_flag(verdict['paper'])} | {_flag(verdict['strict'])} |")
        yield "\n\n".join(captions), "", "\n".join(rows)

    with gr.Blocks(title="rs-r1: ask a checkpoint about an aerial image", analytics_enabled=False) as app:
        gr.Markdown("## rs-r1: ask a checkpoint about an aerial image")
        with gr.Row():
            with gr.Column(scale=1):
                files = gr.File(label="Images (PNG, JPEG, GeoTIFF)", file_count="multiple", elem_id="upload")
                gallery = gr.Gallery(
                    label="As the model sees them (RGB)", columns=3, height=240, object_fit="contain", elem_id="preview"
                )
                gr.Examples([[[str(p)]] for p in examples], inputs=[files], label="Synthetic examples")
            with gr.Column(scale=1):
                question = gr.Textbox(label="Question", value=DEFAULT_QUESTION, lines=2, elem_id="question")
                reasoning = gr.Checkbox(label="Reasoning (R1 prompt, <reasoning> / <answer> tags)", elem_id="reasoning")
                with gr.Row():
                    temperature = gr.Slider(
                        0.0, 1.5, value=0.0, step=0.05, label="Temperature (0 = greedy)", elem_id="temperature"
                    )
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top p (when sampling)", elem_id="top-p")
                    max_new_tokens = gr.Slider(16, 2048, value=256, step=16, label="Max new tokens")
                with gr.Row():
                    ask_button = gr.Button("Ask", variant="primary", elem_id="ask")
                    check_button = gr.Button("SAMChat check", elem_id="check")
                status = gr.Markdown(elem_id="status")
                reasoning_pane = gr.Textbox(label="Reasoning", lines=4, visible=False, elem_id="reasoning-pane")
                answer_pane = gr.Textbox(label="Answer", lines=6, elem_id="answer-pane")
        outputs = [answer_pane, reasoning_pane, status]
        files.change(preview, inputs=[files], outputs=[gallery, status])
        reasoning.change(lambda on: gr.Textbox(visible=on, value=NO_REASONING if on else ""), reasoning, reasoning_pane)
        ask_button.click(ask, [files, question, reasoning, temperature, top_p, max_new_tokens], outputs)
        check_button.click(check, [files, temperature, top_p, max_new_tokens], outputs)
    # One generation at a time: the model is not shared safely between concurrent requests. The waiting line is
    # bounded: a request beyond it is refused at once with Gradio's "Queue is full" (memory stays bounded however
    # many clients call), rather than held, with its uploads, for as long as the line ahead of it takes.
    return app.queue(default_concurrency_limit=1, max_size=max_queue)


def _flag(positive: bool) -> str:
    return "military site" if positive else "not flagged"


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    parser = argparse.ArgumentParser(prog="python -m eval.serve", description=__doc__.split("\n")[0])
    parser.add_argument(
        *MODEL_FLAGS, dest="model", required=True, help="checkpoint directory or Hub id (Qwen2-VL / Qwen2.5-VL)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind; loopback unless you mean to share")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--backend", choices=BACKENDS, default="hf")
    add_model_arguments(parser)  # eval.run's --dtype, --attn-implementation, --image-min-pixels, --image-max-pixels
    parser.add_argument(
        "--examples-dir",
        type=Path,
        default=Path("outputs/demo/data/samdata/test"),
        help="SAMData test folder to take example images from (rendered afresh when missing)",
    )
    parser.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_BYTES / 2**20)
    parser.add_argument(
        "--max-queue",
        type=int,
        default=MAX_QUEUE,
        help="requests waiting behind the one being answered; more are refused with 'Queue is full'",
    )
    args = parser.parse_args(argv)
    # Offline by design: no usage analytics or version check (Blocks(analytics_enabled=False) covers the app, these
    # cover Gradio's module-level calls), no Hub telemetry.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    max_bytes = int(args.max_upload_mb * 2**20)
    logger.info("loading %s (%s backend)", args.model, args.backend)
    backend = load_backend(args.backend, args.model, **model_options(args))
    # SIGTERM (kill, systemd, a test harness) ends the process as Ctrl-C does, through the `with` below, so the
    # example-image folder /tmp/rs_r1_serve_* is removed instead of left behind.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="rs_r1_serve_") as tmp:
        examples = example_images(Path(tmp), args.examples_dir)
        app = build_app(backend, examples, max_bytes=max_bytes, max_queue=args.max_queue)
        app.launch(
            server_name=args.host,
            server_port=args.port,
            share=False,
            max_file_size=max_bytes,  # Gradio refuses bigger uploads before writing them to disk
            allowed_paths=[str(p.parent) for p in examples],
            ssr_mode=False,  # no Node.js server-side rendering: one Python process, nothing else listening
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
