"""VLM-R1 multi-task JSONL (SPEC 2.4): one LLaVA-style object per line, its last reply the reference answer."""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from common.vocabulary import GEOVLM_TASKS, GRPO_TASKS

from .image_checks import MediaResolver
from .jsonio import json_type, jsonl_lines, line_id, parse_json_object
from .llava import llava_record
from .records import DataError, Format, Policy, ReadResult, Record, Target, check_policy, collect, unknown_name


def read_jsonl(
    path: str | os.PathLike,
    image_folder: str | os.PathLike | None = None,
    *,
    policy: Policy = "error",
    tasks: Collection[str] | None = None,
    reward_methods: Collection[str] | None = None,
    decode_images: bool = False,
) -> ReadResult:
    """VLM-R1 multi-task JSONL (SPEC 2.4): one LLaVA-style object per line; index = line number.

    The final assistant reply becomes `solution`; `turns` is the prompt before it. `task` is the record's `task`
    field (None when absent: the caller chooses per file); `accu_reward_method` and other fields stay in `extra`.
    `tasks` / `reward_methods`: the names a record's `task` / `accu_reward_method` may take (GRPO passes
    GRPO_TASKS / GEOVLM_TASKS); None accepts any string. `decode_images`: see read_llava.
    """
    check_policy(policy)
    source = str(path)
    lines = jsonl_lines(path)
    if image_folder is not None and not os.path.isdir(image_folder):
        raise DataError(source, None, f"image folder does not exist: {image_folder}")
    media = MediaResolver(image_folder, check_exists=True, check_header=True, decode=decode_images)

    def parse(line: str, index: int, errors: list[str]) -> Record | None:
        raw = parse_json_object(line, errors)
        if raw is None:
            return None
        return jsonl_record(raw, index, errors, source=source, media=media, tasks=tasks, reward_methods=reward_methods)

    return collect(source, lines, len(lines), parse, policy, lines=True, record_id=lambda line: line_id(line, "id"))


def jsonl_record(
    raw: Any,
    index: int,
    errors: list[str],
    *,
    source: str,
    media: MediaResolver | None = None,
    tasks: Collection[str] | None = None,
    reward_methods: Collection[str] | None = None,
) -> Record | None:
    """One VLM-R1 JSONL object -> record (see read_jsonl, also for `tasks` / `reward_methods`); problems go to
    `errors`. media None: image names are taken as given, unchecked (a row pasted into `python -m grpo.rewards`,
    which needs no image)."""
    if media is None:
        media = MediaResolver(None, check_exists=False, check_header=False)
    record = llava_record(raw, index, errors, source=source, media=media)
    if isinstance(raw, dict):
        for key, known in (("task", tasks), ("accu_reward_method", reward_methods)):
            if key in raw and not isinstance(raw[key], str):
                errors.append(f"'{key}' must be a string, got {json_type(raw[key])}")
            elif key in raw and known is not None and raw[key] not in known:
                errors.append(unknown_name(key, raw[key], known))
    if errors or record is None:
        return None
    record.solution = record.turns[-1].content
    record.turns = record.turns[:-1]
    record.task = raw.get("task")
    return record


def _validate(target: Target) -> ReadResult:
    # The JSONL format is GRPO's (SPEC 2.4): task names are checked as grpo.train checks them.
    return read_jsonl(
        target.path,
        target.image_folder,
        policy="skip",
        tasks=GRPO_TASKS,
        reward_methods=GEOVLM_TASKS,
        decode_images=target.decode,
    )


FORMAT = Format(
    read_jsonl,
    _validate,
    path="VLM-R1 JSONL file",
    image_folder="folder that relative image paths are joined with",
)
