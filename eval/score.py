"""Score a predictions file without a model; prints the metrics as one JSON object.

    python -m eval.score --task samdata --predictions out/samdata/predictions.jsonl --protocol both
    python -m eval.score --task rs_vg --predictions preds.jsonl --prompt-style tinyrs

Prediction lines (one JSON object each, as `eval.run` writes them):
`{"id": str, "image": str (file name or path), "question": str, "answer": str (ground truth; empty for samdata),
"prediction": str (raw model text), "size": [w, h] (grounding), "type": [str] (LHRS-Bench), "error": str (optional:
the sample failed; counted, never dropped), "input_size": [w, h] (optional: the image as the model saw it)}`.
Each id appears once (a repeated id is an error naming both lines, never scored twice); a last line cut short by a
kill is left out with a note; an empty file is an error. The row count scored is printed to stderr.

Metric keys, paper protocol: samdata `tp, fp, tn, fn, precision, recall, f1, accuracy, per_category`; cls / vqa
`accuracy`; rs_vg `acc@0.5`, `acc@0.5_small|medium|large`, `count`; lhrs_bench `accuracy`, `accuracy_<category>`;
GeoVLM tasks: see `eval.tasks.geovlm`; EarthDial-Bench tasks (`earthdial_*`, which also read EarthDial's own result
rows): see `eval.tasks.earthdial`. `--protocol both` gives `{"paper": {...}, "strict": {...}}`.
Each protocol's metrics also hold `ci95`: `{"<metric>": [low, high]}`, the 95% bootstrap interval over the test
samples of the reported metrics (the headline; SAMData precision, recall, f1, accuracy), `--resamples` draws
(default 1000, 0 for none) seeded by `--bootstrap-seed` (eval.intervals).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from common.data import DataError
from common.noise import quiet_known_noise

from .generate import Predictions, read_prediction_file
from .intervals import DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_intervals, reported_metrics
from .tasks import BOX_FRAMES, PROMPT_STYLES, PROTOCOLS, TASKS, Row, ScoreOptions, Task


def score_rows(
    task: Task,
    rows: Sequence[Row],
    options: ScoreOptions,
    protocols: Sequence[str] = PROTOCOLS,
    resamples: int = 0,
    seed: int = DEFAULT_SEED,
) -> dict:
    """{protocol: metrics} plus `samples` and `errors` (rows recorded as failed, never silently dropped). With
    `resamples`, each protocol's metrics also hold `ci95`: {metric: [low, high]} for the reported metrics
    (eval.intervals)."""
    result: dict = {protocol: task.score(rows, protocol, options) for protocol in protocols}
    if resamples:
        names = reported_metrics(task.key, task.headline)
        for protocol in protocols:
            result[protocol]["ci95"] = bootstrap_intervals(task, rows, protocol, options, names, resamples, seed)
    result["samples"] = len(rows)
    result["errors"] = sum(1 for row in rows if row.get("error"))
    return result


def read_rows(task: Task, path: str | os.PathLike) -> Predictions:
    """The rows to score from a predictions file (or, for EarthDial tasks, EarthDial's own result rows); an empty
    file is a DataError naming it."""
    # EarthDial tasks also read EarthDial's own result rows (`answer` + its ground-truth fields).
    earthdial_rows = task.read_results(path) if task.read_results else None
    if earthdial_rows is None:
        predictions = read_prediction_file(path)
    else:  # no ids in EarthDial's rows (a line is a sample): its line numbers are the ids
        predictions = Predictions(rows=earthdial_rows)
    if not predictions.rows:
        raise DataError(path, None, "no prediction rows to score")
    return predictions


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that say how answers are parsed (shared with eval.compare)."""
    parser.add_argument(
        "--prompt-style",
        choices=PROMPT_STYLES,
        default=None,
        help="box syntax of the answers; required for rs_vg (SPEC 6.2)",
    )
    parser.add_argument("--reasoning", action="store_true", help="predictions made in reasoning mode (rs_vg, qwen2vl)")
    parser.add_argument("--box-frame", choices=BOX_FRAMES, default="pixels", help="GeoVLM box answers' frame")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (JVM) for GeoVLM captioning")


def score_options(args: argparse.Namespace) -> ScoreOptions:
    return ScoreOptions(
        style=args.prompt_style or "tinyrs",
        reasoning=args.reasoning,
        box_frame=args.box_frame,
        meteor=not args.no_meteor,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=list(TASKS), metavar="KEY", help="task key (eval.tasks)")
    parser.add_argument("--predictions", required=True, help="predictions.jsonl")
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "both"], default="both")
    add_scoring_arguments(parser)
    add_interval_arguments(parser)
    return parser


def add_interval_arguments(parser: argparse.ArgumentParser) -> None:
    """--resamples / --bootstrap-seed, shared by eval.score, eval.run and eval.compare."""
    parser.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples of the test samples for the 95%% intervals (default {DEFAULT_RESAMPLES}; 0: none)",
    )
    parser.add_argument("--bootstrap-seed", type=int, default=DEFAULT_SEED, help="seed of the bootstrap resamples")


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    args = build_parser().parse_args(argv)
    if args.resamples < 0:
        print("error: --resamples must be 0 (no intervals) or more", file=sys.stderr)  # noqa: T201
        return 2
    task = TASKS[args.task]
    if task.kind == "bbox" and args.prompt_style is None:
        print("error: --prompt-style is required to parse grounding answers (SPEC 6.2)", file=sys.stderr)  # noqa: T201
        return 2
    options = score_options(args)
    try:
        predictions = read_rows(task, args.predictions)
        rows = predictions.rows
        protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
        scored = score_rows(task, rows, options, protocols, args.resamples, args.bootstrap_seed)
    except KeyError as exc:
        print(f"error: {args.predictions}: a row lacks the field {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except DataError as exc:  # names the file (and line) itself
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {args.predictions}: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if predictions.cut_line is not None:
        print(  # noqa: T201
            f"note: {args.predictions}: line {predictions.cut_line} is incomplete (the file ends inside it: a write "
            "cut short) and was not scored; rerun eval.run on this output dir to regenerate it",
            file=sys.stderr,
        )
    if scored["errors"]:
        print(f"note: {scored['errors']} of {scored['samples']} rows are failed samples", file=sys.stderr)  # noqa: T201
    print(f"scored {scored['samples']} rows of {args.predictions} (task {args.task})", file=sys.stderr)  # noqa: T201
    output = {p: scored[p] for p in protocols} if args.protocol == "both" else scored[args.protocol]
    print(json.dumps(output, indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
