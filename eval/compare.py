"""Compare two prediction sets of the same test samples: B - A per reported metric, its paired 95% interval, a p-value.

    python -m eval.compare --task samdata runs/eval/sft/samdata/predictions.jsonl runs/eval/grpo/samdata/predictions.jsonl
    python -m eval.compare --task samdata runs/eval/sft runs/eval/grpo --markdown      # two eval.run output folders

A and B are predictions files or `eval.run` output folders (then `<folder>/<task>/predictions.jsonl`). Rows are
matched by sample id; an id in one file only is an error naming it, unless `--skip-unmatched` (the common samples
are compared and the skipped ones counted on stderr). Per protocol and reported metric (the headline; SAMData
precision, recall, f1, accuracy), one JSON object per line:

    {"task", "protocol", "metric", "a", "b", "delta" (b - a), "ci95": [low, high], "p_value", "test"}

`test` is "mcnemar" (exact, two-sided) when the metric is the mean of a right/wrong per-sample outcome in both sets
(accuracy), else "paired_bootstrap": the same resampled sample ids scored for A and B by the task's own scoring
function, p-value twice the smaller share of resampled differences on either side of 0 (eval.intervals).
`--markdown` prints one table instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.data import DataError
from common.noise import quiet_known_noise

from .intervals import compare_rows, paired_rows, reported_metrics
from .score import add_interval_arguments, add_scoring_arguments, read_rows, score_options
from .tasks import PROTOCOLS, TASKS, Task

PREDICTIONS = "predictions.jsonl"


def predictions_path(task: Task, given: str) -> Path:
    """A predictions file as given, or an eval.run output folder's file for the task."""
    path = Path(given)
    return path / task.key / PREDICTIONS if path.is_dir() else path


def markdown_table(results: list[dict], names: tuple[str, str]) -> str:
    lines = [
        f"A: `{names[0]}`; B: `{names[1]}`; delta = B - A with its paired 95% bootstrap interval.",
        "",
        "| task | protocol | metric | A | B | delta | 95% interval | p-value | test |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        low, high = r["ci95"]
        lines.append(
            f"| {r['task']} | {r['protocol']} | {r['metric']} | {r['a']:.4f} | {r['b']:.4f} | {r['delta']:+.4f} "
            f"| [{low:+.4f}, {high:+.4f}] | {r['p_value']:.4g} | {r['test']} |"
        )
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval.compare",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", required=True, choices=list(TASKS), metavar="KEY", help="task key (eval.tasks)")
    parser.add_argument("a", metavar="A", help="predictions.jsonl or eval.run output folder (the baseline)")
    parser.add_argument("b", metavar="B", help="predictions.jsonl or eval.run output folder (compared with A)")
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "both"], default="both")
    parser.add_argument("--markdown", action="store_true", help="one Markdown table instead of JSON lines")
    parser.add_argument(
        "--skip-unmatched", action="store_true", help="compare the samples both files have; count the others"
    )
    add_scoring_arguments(parser)
    add_interval_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    args = build_parser().parse_args(argv)
    task = TASKS[args.task]
    if args.resamples < 1:
        print("error: --resamples must be at least 1", file=sys.stderr)  # noqa: T201
        return 2
    if task.kind == "bbox" and args.prompt_style is None:
        print("error: --prompt-style is required to parse grounding answers (SPEC 6.2)", file=sys.stderr)  # noqa: T201
        return 2
    paths = (predictions_path(task, args.a), predictions_path(task, args.b))
    names = (str(paths[0]), str(paths[1]))
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    try:
        rows_a, rows_b = (read_rows(task, path).rows for path in paths)
        rows_a, rows_b, skipped = paired_rows(rows_a, rows_b, names, skip_unmatched=args.skip_unmatched)
        metric_names = reported_metrics(task.key, task.headline)
        options = score_options(args)
        results = [
            result
            for protocol in protocols
            for result in compare_rows(
                task, rows_a, rows_b, protocol, options, metric_names, args.resamples, args.bootstrap_seed
            )
        ]
    except KeyError as exc:
        print(f"error: a row lacks the field {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except DataError as exc:  # names the file (and line) itself
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if skipped:
        print(f"note: {skipped} samples in one file only were skipped (--skip-unmatched)", file=sys.stderr)  # noqa: T201
    print(f"compared {len(rows_a)} paired samples (task {task.key})", file=sys.stderr)  # noqa: T201
    if args.markdown:
        print(markdown_table(results, names), end="")  # noqa: T201
    else:
        for result in results:
            print(json.dumps(result))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
