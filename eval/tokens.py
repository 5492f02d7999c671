"""Prompt tokens of every sample of evaluation tasks, measured from the data, for the planner's evaluation estimate.

    python -m eval.tokens --model CKPT --tasks earthdial --data-root DATA/Eardial_downstream_task_datasets \\
        --output runs/plan/earthdial_tokens.json
    python -m offline.plan --eval runs/plan/earthdial_tokens.json --gpus 4 --gpu-memory 80

Per sample: the text tokens of the prompt eval.run renders (the checkpoint's chat template, the task's prompt options)
and the image tokens of each image at the processor's pixel limits (Qwen2-VL's smart_resize of the image's size: the
size is read from the file header, not decoded). With each task's max_new_tokens, the JSON is what `python -m
offline.plan --eval` needs; the planner lives in the offline kit, which may not import a stage, hence the file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from PIL import Image

from common.data import DataError, load_image

from .backends import MODEL_FLAGS, render_prompt
from .tasks import PROMPT_STYLES, PromptOptions, Row, Task, resolve_tasks
from .tasks.base import load_or_skip

logger = logging.getLogger("eval.tokens")


def image_size(source) -> tuple[int, int]:
    """(width, height) of an image path or an in-memory image, from the header when the format allows."""
    if isinstance(source, Image.Image):
        return source.size
    try:
        with Image.open(source) as image:
            return image.size
    except (OSError, ValueError):  # formats PIL cannot open lazily (wide TIFFs): the project's full reader
        return load_image(source).size


def sample_tokens(task: Task, row: Row, processor, prompt: PromptOptions) -> tuple[int, int, int]:
    """(text tokens, image tokens, vision patches) of one sample's prompt."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    images = row.get("images") or [row["image"]]
    rendered = render_prompt(processor, task.messages(row, prompt))
    # The rendered text holds one <|image_pad|> per image, which the processor expands to that image's tokens.
    text = len(processor.tokenizer(rendered)["input_ids"]) - len(images)
    vision = processor.image_processor
    factor = vision.patch_size * vision.merge_size
    image_tokens = patches = 0
    for source in images:
        width, height = image_size(source)
        h, w = smart_resize(
            height,
            width,
            factor=factor,
            min_pixels=vision.size["shortest_edge"],
            max_pixels=vision.size["longest_edge"],
        )
        patches += (h // vision.patch_size) * (w // vision.patch_size)
        image_tokens += (h // factor) * (w // factor)
    return text, image_tokens, patches


def measure(args: argparse.Namespace) -> dict:
    from common.modeling import load_processor

    processor = load_processor(args.model, min_pixels=args.min_pixels, max_pixels=args.max_pixels)
    prompt = PromptOptions(style=args.prompt_style, reasoning=args.reasoning)
    result: dict = {"model": args.model, "min_pixels": args.min_pixels, "max_pixels": args.max_pixels, "tasks": {}}
    named = {name.strip() for name in args.tasks.split(",")}
    for task in resolve_tasks(args.tasks):
        rows = load_or_skip(task, args.data_root, named)
        if rows is None:
            continue
        rows = rows[: args.limit] if args.limit else rows
        counts, unreadable = [], 0
        for row in rows:
            if row.get("error"):  # eval.run records these rows without asking the model
                unreadable += 1
                continue
            try:
                counts.append(sample_tokens(task, row, processor, prompt))
            except DataError as exc:
                logger.warning("%s: %s", task.key, exc)
                unreadable += 1
        text, image, patches = (list(column) for column in zip(*counts)) if counts else ([], [], [])
        result["tasks"][task.key] = {
            "samples": len(counts),
            "unreadable": unreadable,
            "max_new_tokens": args.max_new_tokens or task.max_new_tokens,
            "text_tokens": text,
            "image_tokens": image,
            "patches": patches,
        }
        logger.info("%s: %d samples, %d prompt tokens", task.key, len(counts), sum(text) + sum(image))
    if not result["tasks"]:
        raise ValueError(f"no data for any of the tasks under {args.data_root}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.tokens", description=__doc__.split("\n\n")[0])
    parser.add_argument(*MODEL_FLAGS, dest="model", required=True, help="checkpoint whose processor to use")
    parser.add_argument("--tasks", required=True, help="as eval.run")
    parser.add_argument("--data-root", required=True, help="as eval.run")
    parser.add_argument("--output", required=True, help="JSON for python -m offline.plan --eval")
    parser.add_argument("--prompt-style", choices=PROMPT_STYLES, default=None)
    parser.add_argument("--reasoning", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="first N samples of each task")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="override the task default")
    for bound in ("min", "max"):
        parser.add_argument(f"--image-{bound}-pixels", f"--{bound}-pixels", dest=f"{bound}_pixels", type=int)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.prompt_style is None and any(t.family == "scorers" for t in resolve_tasks(args.tasks)):
        parser.error("--prompt-style is required for ScoreRS tasks (as in eval.run)")
    try:
        result = measure(args)
    except (DataError, ValueError, OSError) as exc:
        logger.error("%s", exc)
        return 1
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(f"prompt tokens of {len(result['tasks'])} task(s): {args.output}")  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    sys.exit(main())
