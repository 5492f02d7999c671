"""The ScoreRS suite (SPEC 2.6): one JSON file per task, its images in a folder named after the file."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from common.parsing import parse_boxes
from common.vocabulary import LHRS_CATEGORIES, SCORERS_TASKS

from .image_checks import MediaResolver
from .images import is_url
from .jsonio import json_type, load_json_array, object_id
from .records import Format, Policy, ReadResult, Record, Target, Turn, check_policy, collect

_KEY_BY_FILE = {file_name: key for key, (file_name, _) in SCORERS_TASKS.items()}


def _grounding_answer_problems(answer: str) -> list[str]:
    """What stops the grounding scorer from reading a ground-truth box (eval.tasks.scorers: the first box of
    common.parsing.parse_boxes)."""
    boxes = parse_boxes(answer)
    if not boxes:
        return [f"grounding answer has no [x1, y1, x2, y2] box: {answer!r}"]
    x1, y1, x2, y2 = boxes[0]
    if x2 <= x1 or y2 <= y1:
        return [f"grounding box {answer!r} is inverted or empty (x2 <= x1 or y2 <= y1)"]
    return []


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def read_scorers(
    json_path: str | os.PathLike,
    data_root: str | os.PathLike,
    *,
    policy: Policy = "error",
    decode_images: bool = False,
) -> ReadResult:
    """One ScoreRS task file. Image = data_root/<json stem>/<image>, or <image_path>/<image> when `image_path` is
    given (absolute, or relative to data_root). `task` is the SCORERS_TASKS key of the file name, else its stem.
    Turns: the question (conversations[0], placeholders kept); `solution`: the answer (conversations[1]);
    `extra`: "size" and "type" when present, and any other field. Grounding answers (rs_vg) must hold the
    `[x1, y1, x2, y2]` box its scorer reads, with positive width and height.
    """
    check_policy(policy)
    source = str(json_path)
    data = load_json_array(json_path)
    stem = Path(json_path).stem
    task = _KEY_BY_FILE.get(Path(json_path).name, stem)
    root = os.path.abspath(data_root)
    resolvers: dict[str, MediaResolver] = {}
    is_grounding = SCORERS_TASKS.get(task, ("", ""))[1] == "bbox"

    def parse(raw: Any, index: int, errors: list[str]) -> Record | None:
        if not isinstance(raw, dict):
            errors.append(f"expected an object, got {json_type(raw)}")
            return None
        conversations = raw.get("conversations")
        if not isinstance(conversations, list) or len(conversations) < 2:
            errors.append("'conversations' must be an array of [question, answer] objects")
        else:
            for position in (0, 1):
                turn = conversations[position]
                value = turn.get("value") if isinstance(turn, dict) else None
                if not isinstance(value, str):
                    errors.append(f"conversations[{position}] must be an object with a string 'value'")
                elif position == 1 and is_grounding:
                    errors.extend(_grounding_answer_problems(value))
        image_path = raw.get("image_path")
        if image_path is not None and (not isinstance(image_path, str) or not image_path):
            errors.append(f"'image_path' must be a non-empty string, got {json_type(image_path)}")
            image_path = None
        folder = os.path.join(root, image_path) if image_path else os.path.join(root, stem)
        if folder not in resolvers:
            resolvers[folder] = MediaResolver(
                folder, check_exists=True, check_header=True, as_given_first=False, decode=decode_images
            )
        name = raw.get("image")
        path = ""
        if not isinstance(name, str) or not name:
            errors.append(f"'image' must be a non-empty string, got {json_type(name)}")
        elif os.path.isabs(name) or is_url(name):
            errors.append(f"'image' must be a file name relative to its image folder, got {name!r}")
        else:
            path = resolvers[folder].resolve(name, errors)
        size = raw.get("size")
        if size is not None and not (isinstance(size, list) and len(size) == 2 and all(map(_positive_number, size))):
            errors.append(f"'size' must be [width, height] of positive numbers, got {json.dumps(size)}")
        categories = raw.get("type")
        if categories is not None and not (
            isinstance(categories, list) and categories and all(c in LHRS_CATEGORIES for c in categories)
        ):
            errors.append(f'\'type\' must be a non-empty array of strings "1".."11", got {json.dumps(categories)}')
        if errors:
            return None
        record_id = raw.get("id", raw.get("question_id"))
        return Record(
            id=str(record_id) if record_id is not None else f"{stem}-{index}",
            given_id=record_id is not None,
            source=source,
            index=index,
            turns=[Turn("user", conversations[0]["value"])],
            images=[path],
            solution=conversations[1]["value"],
            task=task,
            extra={key: value for key, value in raw.items() if key not in ("image", "conversations")},
        )

    return collect(
        source, enumerate(data), len(data), parse, policy, record_id=lambda raw: object_id(raw, "id", "question_id")
    )


def _validate(target: Target) -> ReadResult:
    root = target.image_folder or Path(target.path).parent
    return read_scorers(target.path, root, policy="skip", decode_images=target.decode)


FORMAT = Format(
    read_scorers,
    _validate,
    path="ScoreRS task file",
    image_folder="data_root (default: the JSON file's folder)",
)
