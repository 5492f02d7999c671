"""EarthDial arrow shards (EARTHDIAL.md 2, 3.x): EarthDial-Bench and the training shards, saved with save_to_disk."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

from PIL import Image

from .jsonio import json_type
from .records import DataError, Format, Policy, ReadResult, Record, Target, Turn, check_policy, collect
from .turns import IMAGE_TOKEN

# Image columns of the RGB EarthDial shards, in the order a row's images are given to the model: single images
# are `jpg`; temporal rows are pre / post (`jpg_A`, `jpg_B`), FMoW and MUDS add `jpg_C`, `jpg_D` (EARTHDIAL 3.6).
EARTHDIAL_IMAGE_COLUMNS = ("jpg", "jpg_A", "jpg_B", "jpg_C", "jpg_D")

# Five-reference caption sets (image captioning, Dubai-CC, LEVIR-MCI, MUDS); the others have one `groundtruth`.
EARTHDIAL_REFERENCE_COLUMNS = tuple(f"groundtruth{i}" for i in range(5))

# Upstream's detection scorer indexes its groups by these names and raises KeyError on any other (EARTHDIAL 3.3).
EARTHDIAL_SIZE_GROUPS = ("small", "medium", "large")

# Grounding-description columns: JSON lists stored as strings, one entry per object group (EARTHDIAL 3.7).
EARTHDIAL_JSON_LIST_COLUMNS = ("obj_ids", "size_group", "obj_location", "obj_name")

# Referring detection, xBD detection and referred detection prompts carry this tag; their ground truth is boxes.
EARTHDIAL_BOX_TAG = "[refer]"

# A bracketed run of numbers: the validator's lenient box reading. It accepts signed and decimal numbers, which the
# scorers then drop as upstream does (GeoChat truths go down to -3, EARTHDIAL 2): a shard that upstream reads is
# valid here; only a truth with no box, or a box without exactly five numbers, is unparseable.
_BRACKETED_NUMBERS = re.compile(r"\[\s*(-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?)*)\s*\]")


def _earthdial_box_problem(text: str, what: str) -> str | None:
    """None if `text` holds one or more five-number boxes `[x1, y1, x2, y2, theta]`, else what is wrong."""
    groups = _BRACKETED_NUMBERS.findall(text)
    if not groups:
        return f"{what}: no [x1, y1, x2, y2, theta] box in {text[:80]!r}"
    for group in groups:
        count = len(group.split(","))
        if count != 5:
            return f"{what}: box [{group}] has {count} numbers, expected 5 (x1, y1, x2, y2, theta)"
    return None


def _earthdial_json_list(value: Any, column: str, errors: list[str]) -> list | None:
    try:
        items = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list):
        errors.append(f"'{column}' must be a JSON list stored as a string, got {str(value)[:80]!r}")
        return None
    return items


def load_earthdial_shard(path: str | os.PathLike, split: str | None = None):
    """(dataset with undecoded image columns, source, image columns present in EARTHDIAL_IMAGE_COLUMNS order) of an
    EarthDial shard; file-level problems raise DataError. `path` may be a DatasetDict folder (with `split`) or a
    split's own folder."""
    import datasets  # deferred: importing datasets costs seconds, and only the shard readers need it

    source = str(path)
    if not os.path.isdir(path):
        raise DataError(source, None, "not a folder (an EarthDial shard is a save_to_disk folder)")
    try:
        dataset = datasets.load_from_disk(source)
    except Exception as exc:  # datasets raises FileNotFoundError, ValueError, ... for one cause: not a shard
        raise DataError(source, None, f"cannot load dataset ({type(exc).__name__}: {exc})") from exc
    if isinstance(dataset, datasets.DatasetDict):
        # The Hub keeps some sets as DatasetDicts (`AID/test/...`): a single split is unambiguous.
        if split is None and len(dataset) == 1:
            split = next(iter(dataset))
        if split is None or split not in dataset:
            wanted = "give the split" if split is None else f"no split {split!r}"
            raise DataError(source, None, f"{wanted} (splits: {', '.join(dataset)})")
        dataset = dataset[split]
        source = os.path.join(source, split)
    columns = dataset.column_names
    missing = [name for name in ("question",) if name not in columns]
    images = [name for name in EARTHDIAL_IMAGE_COLUMNS if name in columns]
    if not images:
        missing.append("an image column (" + "/".join(EARTHDIAL_IMAGE_COLUMNS) + ")")
    references = [name for name in EARTHDIAL_REFERENCE_COLUMNS if name in columns]
    if "groundtruth" not in columns and len(references) != len(EARTHDIAL_REFERENCE_COLUMNS):
        absent = [name for name in EARTHDIAL_REFERENCE_COLUMNS if name not in columns]
        missing.append("'groundtruth'" + (f" or {absent}" if references else " or groundtruth0..4"))
    if missing:
        raise DataError(source, None, f"missing column(s): {', '.join(missing)} (have {columns})")
    for name in images:
        if not isinstance(dataset.features[name], datasets.Image):
            raise DataError(source, None, f"column '{name}' must be an Image feature, got {dataset.features[name]}")
        # Undecoded rows keep only the encoded bytes; records open them lazily (header only).
        dataset = dataset.cast_column(name, datasets.Image(decode=False))
    return dataset, source, images


def _earthdial_image(encoded: Any, column: str, errors: list[str]) -> Image.Image | None:
    if not encoded or not (encoded.get("bytes") or encoded.get("path")):
        errors.append(f"image '{column}' missing")
        return None
    try:
        # Bytes in memory rather than an open file per record: a large shard would exhaust file handles.
        data = encoded.get("bytes") or Path(encoded["path"]).read_bytes()
        return Image.open(io.BytesIO(data))
    except Exception as exc:  # OSError, UnidentifiedImageError, ... for a missing or corrupt image
        errors.append(f"image '{column}' unreadable ({exc})")
        return None


def _check_earthdial_grounding(row: dict, errors: list[str]) -> None:
    """Grounding description (EARTHDIAL 3.7): four parallel JSON lists; every obj_ids entry holds boxes."""
    lists = {}
    for column in EARTHDIAL_JSON_LIST_COLUMNS:
        if column not in row:
            errors.append(f"grounding row without '{column}'")
            continue
        items = _earthdial_json_list(row[column], column, errors)
        if items is not None:
            lists[column] = items
    lengths = {column: len(items) for column, items in lists.items()}
    if len(set(lengths.values())) > 1:
        errors.append(f"the object lists differ in length: {lengths}")
    for position, entry in enumerate(lists.get("obj_ids", [])):
        if not isinstance(entry, str):
            errors.append(f"obj_ids[{position}] must be a box string, got {json_type(entry)}")
        elif problem := _earthdial_box_problem(entry, f"obj_ids[{position}]"):
            errors.append(problem)
    bad = [group for group in lists.get("size_group", []) if group not in EARTHDIAL_SIZE_GROUPS]
    if bad:
        errors.append(f"size_group entries must be one of {', '.join(EARTHDIAL_SIZE_GROUPS)}, got {bad}")


def read_earthdial(path: str | os.PathLike, *, split: str | None = None, policy: Policy = "error") -> ReadResult:
    """One EarthDial shard (EARTHDIAL.md 3.x): a `save_to_disk` Dataset, or a DatasetDict (`split`, which may be
    left out when it has one split, as the Hub's `AID/test/...`). One record per row, index = row position.

    - `images`: the row's images in the order `jpg`, `jpg_A`, `jpg_B`, `jpg_C`, `jpg_D` (the columns present),
      lazily opened PIL images (decode them with `load_image`).
    - `turns`: one user turn, the `question` string verbatim (task tags, literal `\\n` and `<image>` kept).
    - `solution`: `groundtruth`, or the list of the five `groundtruth0..4` where the shard has them.
    - `extra`: every other column as stored (`ttype`, `size_group`, `obj_ids`, ... JSON strings not parsed).
    - `task`: None (one shard is one dataset; the caller names its task).

    Checks per row: `question` and the ground truth are strings; every image is present and readable; a question
    with two or more `<image>` has one per image. Zero or one `<image>` is accepted with any number of images:
    EarthDial's chat prepends `<image>` when there is none and puts the tiles of all images at the first one, so
    AID prompts carry none and xBD reg_cls_2 has two images but one `<image>` (EARTHDIAL 1, 3.8). Box tasks (a
    `[refer]` prompt) need a ground truth of five-number boxes; a plain `size_group` must be small / medium /
    large; grounding rows (`obj_ids`) need the four object lists of equal length.
    """
    check_policy(policy)
    dataset, source, image_columns = load_earthdial_shard(path, split)
    columns = dataset.column_names
    five = "groundtruth" not in columns
    answer_columns = EARTHDIAL_REFERENCE_COLUMNS if five else ("groundtruth",)
    known = {"question", *image_columns, *answer_columns}
    name = Path(path).name

    def parse(row: dict, index: int, errors: list[str]) -> Record | None:
        question = row["question"]
        if question is None:
            errors.append("missing 'question'")
        elif not isinstance(question, str) or not question.strip():
            errors.append(f"'question' must be a non-empty string, got {str(question)[:80]!r}")
            question = None
        answers = [row[column] for column in answer_columns]
        for column, value in zip(answer_columns, answers):
            if value is None:
                errors.append(f"missing '{column}'")
            elif not isinstance(value, str):
                errors.append(f"'{column}' must be a string, got {json_type(value)}")
        images = [_earthdial_image(row[column], column, errors) for column in image_columns]
        if question is not None:
            placeholders = question.count(IMAGE_TOKEN)
            if placeholders > 1 and placeholders != len(image_columns):
                errors.append(
                    f"{len(image_columns)} image(s) ({', '.join(image_columns)}) but {placeholders} {IMAGE_TOKEN} "
                    "placeholders in the question"
                )
            if EARTHDIAL_BOX_TAG in question and isinstance(answers[0], str):
                if problem := _earthdial_box_problem(answers[0], f"unparseable ground-truth box '{answer_columns[0]}'"):
                    errors.append(problem)
        if "obj_ids" in row:
            _check_earthdial_grounding(row, errors)
        elif "size_group" in row and row["size_group"] not in EARTHDIAL_SIZE_GROUPS:
            errors.append(f"'size_group' must be one of {', '.join(EARTHDIAL_SIZE_GROUPS)}, got {row['size_group']!r}")
        if errors:
            return None
        return Record(
            id=f"{name}-{index}",
            given_id=False,
            source=source,
            index=index,
            turns=[Turn("user", question)],
            images=images,
            solution=list(answers) if five else answers[0],
            extra={key: value for key, value in row.items() if key not in known},
        )

    return collect(source, enumerate(dataset), len(dataset), parse, policy)


def _validate(target: Target) -> ReadResult:
    return read_earthdial(target.path, split=target.split, policy="skip")


FORMAT = Format(
    read_earthdial,
    _validate,
    path="EarthDial shard folder",
    split="split of a DatasetDict shard (default: its only split)",
)
