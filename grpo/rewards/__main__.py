"""Score completions offline with the GRPO rewards, to check a reward on hand-written answers before a run.

    python -m grpo.rewards --reward format,tinyrs_accuracy --input completions.jsonl [--weights 1,0.5]
    python -m grpo.rewards --config configs/grpo/geovlm_r1.yaml --input completions.jsonl --output scores.txt

Input: one JSON object per line, `{"completion": str (or a list of chat messages), "solution": str (or a number),
"task": str}` plus, where a reward needs them, `reward_method`, `question`, `image_size` [w, h] and `input_size`
[w, h] (the dataset columns of grpo/data.py). Without `task`, a line gets the natural task of the first named
reward that has one (samchat for samchat_keyword, short_answer for tinyrs_accuracy, ...).
A line may also be a dataset row as stored upstream plus a `completion`: a TinyRS row (`"solution": ["1",
"airport", question, image_base64]`), a SAMChat metadata.jsonl row (`file_name`, `question`, `solution`) or a
VLM-R1 JSONL row (`conversations`, `task`, `accu_reward_method`); it is mapped to the reward columns exactly as
grpo/data.py maps it for training (TinyRS answer type "0" / "1" / "2" -> open_ended / short_answer / bbox).
Output: one line per input line, in order: the weighted sum of the chosen rewards as a JSON number, or `null` when
none of them applies; with `--each`, a JSON object with that `total` and each reward's own value (null: n/a). The LLM judge is never called offline: open-ended TinyRS rows score null.

`--config` reads a GRPO recipe: `reward_funcs`, `reward_weights` and the RewardOptions fields (think_tag,
answer_tag, format_mode, keywords, iou_mode, box_frame, caption_metric, completion_length_max_chars); other keys
are ignored; flags given on the command line win (--reward replaces both reward_funcs and reward_weights).
Exit status: 0 scored; 1 a bad or unreadable input file, the error naming the file and line; 2 bad arguments or a
bad recipe.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from . import REWARDS, TASKS, RewardOptions, completion_text, default_task, score_rows
from .geovlm import GEOVLM_TASKS

# RewardOptions fields settable from the command line and the recipe (the judge is never called offline).
OPTION_FIELDS = tuple(f.name for f in fields(RewardOptions) if f.name != "judge_failure_value")


class InputError(ValueError):
    """A bad input line or recipe, reported as `path:line: message`."""


def _names(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise InputError(f"{what} must be a list of names or a comma-separated string, got {value!r}")


def _weights(value: Any, what: str) -> list[float]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InputError(f"{what} must be a list of numbers or a comma-separated string, got {value!r}")
    try:
        weights = [float(item) for item in items]
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers, got {value!r}") from None
    if not all(math.isfinite(w) for w in weights):
        raise InputError(f"{what} must be finite numbers, got {value!r}")
    return weights


def read_recipe(path: str) -> dict[str, Any]:
    """The reward settings of a GRPO recipe YAML: reward_funcs, reward_weights and the option fields present."""
    try:
        recipe = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"{path}: cannot read the recipe: {error}") from None
    if not isinstance(recipe, dict):
        raise InputError(f"{path}: a recipe is a YAML mapping of field: value")
    settings: dict[str, Any] = {}
    try:
        if "reward_funcs" in recipe:
            settings["reward_funcs"] = _names(recipe["reward_funcs"], "reward_funcs")
        if recipe.get("reward_weights") is not None:
            settings["reward_weights"] = _weights(recipe["reward_weights"], "reward_weights")
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    settings.update({name: recipe[name] for name in OPTION_FIELDS if name in recipe})
    return settings


def _size(value: Any, key: str) -> list[float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in value
        )
    ):
        raise InputError(f"{key!r} must be [width, height] with positive numbers, got {value!r}")
    return value


def _is_dataset_row(record: dict[str, Any]) -> bool:
    # A row as stored in one of the GRPO datasets: TinyRS (list solution), VLM-R1 JSONL, SAMChat metadata.jsonl.
    return isinstance(record.get("solution"), list) or "conversations" in record or "file_name" in record


def _dataset_row(record: dict[str, Any]) -> dict[str, Any]:
    """A pasted dataset row -> the reward columns grpo.data gives that row in training (grpo.data.record_from_row
    and reward_columns: one mapping), plus the line's own completion and sizes."""
    from common.data import DataError  # deferred: grpo.data imports datasets, seconds that plain lines never pay
    from grpo.data import UPSTREAM_SOLUTION, record_from_row, reward_columns

    fields = {key: value for key, value in record.items() if key != "completion"}
    try:
        fmt, parsed = record_from_row(fields)
    except DataError as error:
        raise InputError(f"bad {_ROW_KINDS.get(_row_kind(fields), 'dataset')} row: {error.message}") from None
    row = {**reward_columns(parsed, fmt), "completion": record["completion"]}
    if row["task"] is None:
        row.pop("task")  # a JSONL row without a task: the line gets the reward's natural task
    if fmt == "tinyrs_grpo":
        row[UPSTREAM_SOLUTION] = fields["solution"]
    for key in ("image_size", "input_size"):
        if key in record:
            row[key] = record[key]
    return row


_ROW_KINDS = {"tinyrs_grpo": "TinyRS", "jsonl": "JSONL", "imagefolder": "SAMChat metadata"}


def _row_kind(record: dict[str, Any]) -> str:
    if isinstance(record.get("solution"), list):
        return "tinyrs_grpo"
    return "jsonl" if "conversations" in record else "imagefolder"


def parse_line(line: str, task: str | None) -> dict[str, Any]:
    """One input line -> a reward row; InputError (without position) when the line is not a valid record."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"not a JSON object ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}")
    if "completion" not in record:
        raise InputError("missing 'completion'")
    if _is_dataset_row(record):
        record = _dataset_row(record)
    if "solution" not in record:
        raise InputError("missing 'solution'")
    try:
        completion_text(record["completion"])
    except (TypeError, AttributeError) as error:
        raise InputError(f"'completion': {error}") from None
    solution = record["solution"]
    if isinstance(solution, bool) or not isinstance(solution, (str, int, float)):
        raise InputError(f"'solution' must be a string (or a number), got {type(solution).__name__}")
    row = {**record, "solution": solution if isinstance(solution, str) else json.dumps(solution)}
    row["task"] = record.get("task", task)
    if row["task"] is not None and row["task"] not in TASKS:
        raise InputError(f"unknown task {row['task']!r}; tasks: {', '.join(TASKS)}")
    method = record.get("reward_method")
    if method is not None and method not in GEOVLM_TASKS:
        raise InputError(f"unknown reward_method {method!r}; one of: {', '.join(GEOVLM_TASKS)}")
    if not isinstance(record.get("question", ""), str):
        raise InputError("'question' must be a string")
    for key in ("image_size", "input_size"):
        if record.get(key) is not None:
            row[key] = _size(record[key], key)
    return row


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grpo.rewards",
        description=__doc__.split("\n\n")[0],
        epilog=f"rewards: {', '.join(REWARDS)}",
    )
    parser.add_argument("--reward", help="NAME[,NAME...] from the registry (default: the recipe's reward_funcs)")
    parser.add_argument("--input", required=True, help="JSONL file of completions")
    parser.add_argument("--weights", help="one weight per reward, comma-separated (default: recipe, else 1 each)")
    parser.add_argument("--config", help="GRPO recipe YAML (configs/grpo/*.yaml) to take rewards and options from")
    parser.add_argument(
        "--each",
        action="store_true",
        help="print a JSON object per line: the weighted total and each reward's own (unweighted) value",
    )
    parser.add_argument("--output", help="write the scores here instead of stdout")
    defaults = RewardOptions()
    for name in OPTION_FIELDS:
        flags = dict.fromkeys((f"--{name}", f"--{name.replace('_', '-')}"))
        kind = "comma-separated" if name == "keywords" else type(getattr(defaults, name)).__name__
        parser.add_argument(
            *flags, dest=name, help=f"RewardOptions.{name} ({kind}; default {getattr(defaults, name)!r})"
        )
    return parser


def _options(args: argparse.Namespace, recipe: dict[str, Any]) -> RewardOptions:
    values = {name: recipe[name] for name in OPTION_FIELDS if name in recipe}
    for name in OPTION_FIELDS:
        flag = getattr(args, name)
        if flag is not None:
            values[name] = _names(flag, "--keywords") if name == "keywords" else flag
    if "completion_length_max_chars" in values:
        try:
            values["completion_length_max_chars"] = int(values["completion_length_max_chars"])
        except (TypeError, ValueError):
            raise InputError(
                f"completion_length_max_chars must be an integer, got {values['completion_length_max_chars']!r}"
            ) from None
    try:
        return RewardOptions(**values)
    except (TypeError, ValueError) as error:
        raise InputError(str(error)) from None


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        recipe = read_recipe(args.config) if args.config else {}
        names = _names(args.reward, "--reward") if args.reward else recipe.get("reward_funcs", [])
        if args.weights is not None:
            weights = _weights(args.weights, "--weights")
        elif args.reward is None and "reward_weights" in recipe:
            weights = recipe["reward_weights"]
        else:
            weights = [1.0] * len(names)  # the recipe's weights belong to the recipe's rewards, not to --reward
        options = _options(args, recipe)
    except InputError as error:
        _error(str(error))
        return 2
    unknown = [name for name in names if name not in REWARDS]
    if not names or unknown:
        _error(
            f"name rewards with --reward or a recipe's reward_funcs (unknown: {unknown}); registered: {list(REWARDS)}"
        )
        return 2
    if len(weights) != len(names):
        _error(f"{len(weights)} weights for {len(names)} rewards {names}")
        return 2
    try:
        lines = Path(args.input).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        _error(f"{args.input}: {error}")
        return 1
    task = default_task(names)
    scores = []
    for number, line in enumerate(lines, start=1):
        try:
            row = parse_line(line, task)
            # One line at a time, so that a row a reward cannot use (a box frame without the image size) is named.
            (total,) = score_rows(names, weights, [row], options)
            if args.each:
                each = {name: score_rows([name], [1.0], [row], options)[0] for name in names}
                scores.append(json.dumps({"total": total, **each}))
            else:
                scores.append("null" if total is None else json.dumps(total))
        except (InputError, ValueError) as error:
            _error(f"{args.input}:{number}: {error}")
            return 1
    text = "".join(line + "\n" for line in scores)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
