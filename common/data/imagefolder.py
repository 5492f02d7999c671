"""SAMChat GRPO imagefolder (SPEC 2.2): `metadata.jsonl` rows naming the images beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from common.prompts import SAMCHAT_GRPO_SUFFIX, SAMCHAT_GRPO_SYSTEM

from .image_checks import image_problem, inside
from .jsonio import json_type, jsonl_lines, line_id, parse_json_object
from .records import DataError, Format, Policy, ReadResult, Record, Target, Turn, check_policy, collect
from .turns import IMAGE_TOKEN


def read_imagefolder(
    data_dir: str | os.PathLike, *, policy: Policy = "error", decode_images: bool = False
) -> ReadResult:
    """`data_dir/metadata.jsonl` rows (`file_name`, `question`, `solution` "0"/"1") -> task "samchat" records.

    Read directly, without `datasets`, so that validation names the metadata line of every problem; the folder is
    also a valid `datasets.load_dataset("imagefolder", data_dir=...)` input. Turns are the SAMChat GRPO prompt
    (SPEC 4); `extra["question"]` keeps the bare question.
    """
    check_policy(policy)
    folder = os.path.abspath(data_dir)
    metadata = Path(data_dir) / "metadata.jsonl"
    source = str(metadata)
    if not metadata.is_file():
        raise DataError(data_dir, None, "no metadata.jsonl in this folder")
    lines = jsonl_lines(metadata)

    def parse(line: str, index: int, errors: list[str]) -> Record | None:
        raw = parse_json_object(line, errors)
        if raw is None:
            return None
        return samchat_record(raw, index, errors, source=source, folder=folder, decode=decode_images)

    return collect(
        source, lines, len(lines), parse, policy, lines=True, record_id=lambda line: line_id(line, "file_name")
    )


def samchat_record(
    raw: dict, index: int, errors: list[str], *, source: str, folder: str | None = None, decode: bool = False
) -> Record | None:
    """One SAMChat metadata.jsonl row -> record (see read_imagefolder); problems go to `errors`. folder None: the
    file name is kept as given, unchecked (a row pasted into `python -m grpo.rewards`, which needs no image).
    decode: decode the image in full (validation), not only its header."""
    file_name, question, solution = raw.get("file_name"), raw.get("question"), raw.get("solution")
    if not isinstance(question, str) or not question.strip():
        errors.append(f"'question' must be a non-empty string, got {json_type(question)}")
    if solution not in ("0", "1"):
        errors.append(f'\'solution\' must be the string "0" or "1", got {json.dumps(solution)}')
    path = ""
    if not isinstance(file_name, str) or not file_name:
        errors.append(f"'file_name' must be a non-empty string, got {json_type(file_name)}")
    elif folder is None:
        path = file_name
    else:
        # datasets refuses absolute file names and `..` escapes; say so here, with the line number.
        path = os.path.normpath(os.path.join(folder, file_name))
        if os.path.isabs(file_name) or not inside(path, folder):
            errors.append(f"file_name {file_name!r} escapes image folder {folder}")
        elif not os.path.isfile(path):
            errors.append(f"image not found: {path}")
        elif problem := image_problem(path, decode=decode):
            errors.append(problem)
    if errors:
        return None
    return Record(
        id=file_name,
        source=source,
        index=index,
        turns=[
            Turn("system", SAMCHAT_GRPO_SYSTEM),
            Turn("user", IMAGE_TOKEN + question + SAMCHAT_GRPO_SUFFIX),
        ],
        images=[path],
        solution=solution,
        task="samchat",
        extra={"question": question, **{k: v for k, v in raw.items() if k not in ("question", "solution")}},
    )


def _validate(target: Target) -> ReadResult:
    return read_imagefolder(target.path, policy="skip", decode_images=target.decode)


FORMAT = Format(read_imagefolder, _validate, path="folder with metadata.jsonl and its images")
