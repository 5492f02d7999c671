"""Evaluate a checkpoint: generate predictions, score them under both protocols, write metrics and a report.

    python -m eval.run --model aybora/Qwen2-VL-SAMChat-R1 --tasks samdata --data-root DATA/SAMData-300-Test \\
        --output-dir runs/eval/samchat_r1 --paper-model samchat_r1
    python -m eval.run --model aybora/Qwen2-VL-TinyRS-R1 --tasks scorers --data-root DATA/scorers_datasets_eval \\
        --prompt-style tinyrs --reasoning --output-dir runs/eval/tinyrs_r1 --backend vllm

`--data-root` is the folder of test images for `samdata`, the folder of the 12 annotation files for the ScoreRS
tasks (`scorers`, or `all` as upstream called it), the folder of `<task>.jsonl` + `images/` for `geovlm`, and
EarthDial's `Eardial_downstream_task_datasets` folder of arrow shards for `earthdial` (eval.tasks.earthdial).
Outputs in `--output-dir`: `<task>/predictions.jsonl` (one line per sample, written as it goes; a rerun resumes),
`metrics.json` (every task, both protocols, run settings and versions; written atomically), `report.md` and PNGs.
The prompt style and reasoning mode are options, recorded in the results, never guessed from the model path.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
from pathlib import Path

from common.data import DataError
from common.interrupt import command_line, run_interruptible
from common.noise import quiet_known_noise
from common.provenance import CARD_FILE, add_eval_to_card, read_run_record

from .backends import BACKENDS, MODEL_FLAGS, add_model_arguments, load_backend, model_options
from .generate import GenerationSummary, generate_task, read_predictions, write_json_atomic
from .report import PAPER_NUMBERS, headline, write_report
from .score import add_interval_arguments, score_rows
from .shard import detect_shard, pin_devices
from .tasks import BOX_FRAMES, PROMPT_STYLES, PromptOptions, ScoreOptions, resolve_tasks
from .tasks.base import load_or_skip

logger = logging.getLogger("eval.run")

METRICS = "metrics.json"
# Default batch sizes: the hf backend pads a batch to its longest prompt; vLLM takes every request at once (0).
DEFAULT_BATCH = {"hf": 8, "vllm": 0}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval.run", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(*MODEL_FLAGS, dest="model", required=True, help="checkpoint: local folder or Hub id")
    parser.add_argument("--tasks", required=True, help="samdata | scorers | all | geovlm | earthdial | KEY[,KEY...]")
    parser.add_argument("--data-root", required=True, help="test images (samdata) / annotation folder (others)")
    parser.add_argument("--output-dir", "--output_dir", required=True)
    parser.add_argument("--backend", choices=BACKENDS, default="hf")
    parser.add_argument(
        "--tensor-parallel-size",
        "--tensor_parallel_size",
        type=int,
        default=1,
        metavar="T",
        help="vllm: GPUs per model copy, for checkpoints larger than one GPU; under torchrun each rank takes T GPUs",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="samples per generate call and per resume checkpoint; default hf 8, vllm 0 (= all in one call)",
    )
    parser.add_argument(
        "--prompt-style",
        choices=PROMPT_STYLES,
        default=None,
        help="ScoreRS prompt and box syntax (SPEC 6.2); required for ScoreRS tasks",
    )
    parser.add_argument("--reasoning", action="store_true", help="R1 system prompt (ScoreRS, GeoVLM)")
    parser.add_argument("--limit", type=int, default=None, help="first N samples of each task")
    parser.add_argument("--force", action="store_true", help="regenerate predictions that already exist")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="override the task default (SPEC 6)")
    add_model_arguments(parser)  # --dtype, --attn-implementation, --image-min-pixels, --image-max-pixels
    parser.add_argument("--box-frame", choices=BOX_FRAMES, default="pixels", help="GeoVLM box answers' frame")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (JVM) for GeoVLM captioning")
    parser.add_argument("--paper-model", choices=sorted(PAPER_NUMBERS), default=None, help="paper numbers to show")
    parser.add_argument("--no-report", action="store_true", help="metrics.json only (no report.md / plots)")
    add_interval_arguments(parser)  # --resamples, --bootstrap-seed: the ci95 intervals beside each protocol's metrics
    parser.add_argument("--log-level", "--log_level", default="INFO")
    return parser


def versions() -> dict[str, str | None]:
    found = {}
    for package in ("rs-r1", "torch", "transformers", "vllm"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def run(args: argparse.Namespace) -> dict:
    tasks = resolve_tasks(args.tasks)
    if args.prompt_style is None and any(t.family == "scorers" for t in tasks):
        raise ValueError(
            "--prompt-style is required for ScoreRS tasks (tinyrs, qwen2vl_instruct or qwen2vl, SPEC 6.2); "
            "upstream guessed it from the model path"
        )
    if args.resamples < 0:
        raise ValueError("--resamples must be 0 (no intervals) or more")
    for flag in ("limit", "max_new_tokens"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1")
    prompt = PromptOptions(style=args.prompt_style, reasoning=args.reasoning)
    score_options = ScoreOptions(
        style=args.prompt_style or "tinyrs",
        reasoning=args.reasoning,
        box_frame=args.box_frame,
        meteor=not args.no_meteor,
    )
    batch_size = DEFAULT_BATCH[args.backend] if args.batch_size is None else args.batch_size
    if args.tensor_parallel_size != 1 and args.backend != "vllm":
        raise ValueError("--tensor-parallel-size is for --backend vllm (the hf backend runs on one device)")
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    shard = detect_shard()  # torchrun / accelerate launch: this rank's batches; rank 0 merges, scores and writes
    pin_devices(shard, args.backend, args.tensor_parallel_size)

    backend = None

    def backend_factory():
        nonlocal backend
        if backend is None:
            logger.info("loading %s with the %s backend", args.model, args.backend)
            options = model_options(args)
            backend = load_backend(args.backend, args.model, tensor_parallel_size=args.tensor_parallel_size, **options)
        return backend

    header = {
        "model": args.model,
        "backend": args.backend,
        "prompt_style": args.prompt_style,
        "reasoning": args.reasoning,
        "data_root": str(Path(args.data_root).resolve()),
        "limit": args.limit,
        "min_pixels": args.min_pixels,
        "max_pixels": args.max_pixels,
    }
    metrics_path = output_dir / METRICS
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    if any(metrics.get(k) != v for k, v in header.items()):
        metrics = {}  # another run's results: start a new file rather than mix settings
    metrics.update(header)
    metrics.update(
        batch_size=batch_size,
        paper_model=args.paper_model,
        box_frame=args.box_frame,
        versions=versions(),
        # How the checkpoint was made (its rs_r1_run.yaml), when it is a local rs-r1 run: None otherwise.
        checkpoint_provenance=read_run_record(args.model) if Path(args.model).is_dir() else None,
    )
    if any(t.family == "earthdial" for t in tasks):
        from common.earthdial import text_tools

        # EarthDial's text metrics depend on NLTK's tokenizer model and WordNet: say which ones scored this run.
        metrics["text_tools"] = text_tools()
    metrics.setdefault("tasks", {})
    named = {name.strip() for name in args.tasks.split(",")}
    skipped = {}
    for task in tasks:
        rows = load_or_skip(task, args.data_root, named, skipped)
        if rows is None:
            continue
        if args.limit is not None:
            rows = rows[: args.limit]
        if not rows:  # an empty test set would score 0.0 (or 1.0) and look like a result
            raise DataError(args.data_root, None, f"no samples for task {task.key}")
        max_new_tokens = args.max_new_tokens or task.max_new_tokens
        summary: GenerationSummary = generate_task(
            task,
            rows,
            backend_factory,
            output_dir,
            prompt=prompt,
            settings={k: header[k] for k in ("model", "prompt_style", "reasoning", "min_pixels", "max_pixels")},
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            force=args.force,
            shard=shard,
        )
        if not shard.main:
            continue
        predictions = read_predictions(output_dir / task.key / "predictions.jsonl")
        result = score_rows(task, predictions, score_options, resamples=args.resamples, seed=args.bootstrap_seed)
        result.update(
            predictions=f"{task.key}/predictions.jsonl",
            max_new_tokens=max_new_tokens,
            reused=summary.reused,
            generated=summary.generated,
            error_messages=sorted({row["error"] for row in predictions if row.get("error")})[:20],
        )
        metrics["tasks"][task.key] = result
        write_json_atomic(metrics_path, metrics)
        logger.info(
            "%s: %d samples (%d reused, %d generated, %d errors)",
            task.key,
            result["samples"],
            summary.reused,
            summary.generated,
            result["errors"],
        )
    if not shard.main:
        return {**metrics, "tasks": {}}  # rank 0 reports the results
    metrics.pop("skipped_tasks", None)
    if skipped:
        metrics["skipped_tasks"] = skipped
        write_json_atomic(metrics_path, metrics)
    if not metrics["tasks"]:
        raise ValueError(f"no data for any of the tasks under {args.data_root}: {'; '.join(skipped.values())}")
    if not args.no_report:
        write_report(metrics, output_dir)
    if Path(args.model).is_dir() and add_eval_to_card(args.model, metrics, {k: headline(k) for k in metrics["tasks"]}):
        logger.info("added the metrics to the model card %s", Path(args.model) / CARD_FILE)
    return metrics


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_interruptible(
        lambda: _run_and_print(args), command=command_line("python -m eval.run", argv), next_run=lambda: _resume(args)
    )


def _resume(args: argparse.Namespace) -> str:
    # generate_task keeps every prediction already in <task>/predictions.jsonl unless --force.
    kept = f"the predictions made so far (in {args.output_dir}/<task>/predictions.jsonl) are kept"
    if args.force:
        return f"{kept} by the same command without --force (with it they are made again)"
    return f"the same command resumes: {kept}"


def _run_and_print(args: argparse.Namespace) -> int:
    try:
        metrics = run(args)
    except (DataError, ValueError, RuntimeError, OSError) as exc:
        logger.error("%s", exc)
        return 1
    if not metrics["tasks"]:  # a data-parallel run's other ranks: rank 0 prints the results
        return 0
    for key, result in metrics["tasks"].items():
        name = headline(key)
        line = f"{key}: {name} paper {result['paper'][name]:.4f}, strict {result['strict'][name]:.4f}"
        print(f"{line}, errors {result['errors']}")  # noqa: T201
    print(f"metrics: {Path(args.output_dir) / METRICS}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
