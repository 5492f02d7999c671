"""TinyRS GRPO data (SPEC 2.3): a DatasetDict saved with save_to_disk, or its Hub id."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

from PIL import Image

from common.parsing import parse_box
from common.vocabulary import TINYRS_TASKS

from .image_checks import encoded_problem, issue_text
from .jsonio import json_type, object_id
from .records import DataError, Format, Policy, ReadResult, Record, Target, Turn, check_policy, collect
from .turns import IMAGE_TOKEN, check_placeholders, check_roles

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _prompt_turns(messages: Any, errors: list[str]) -> list[Turn]:
    """Conversational prompt messages -> turns; an image part becomes `<image>`, text parts are concatenated."""
    if not isinstance(messages, list) or not messages:
        errors.append(f"'prompt' must be a non-empty list of messages, got {json_type(messages)}")
        return []
    turns: list[Turn] = []
    raw_roles: list[str] = []
    for position, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in ("system", "user", "assistant"):
            errors.append(f"prompt message {position}: unknown role {role!r}")
            return []
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            pieces = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "image":
                    pieces.append(IMAGE_TOKEN)
                elif kind == "text" and isinstance(part.get("text"), str):
                    pieces.append(part["text"])
                else:
                    errors.append(f"prompt message {position}: bad content part {part!r}")
                    return []
            text = "".join(pieces)
        else:
            errors.append(f"prompt message {position}: content must be a string or a list of parts")
            return []
        turns.append(Turn(role, text))
        raw_roles.append(role)
    check_roles(turns, raw_roles, errors, last="user")
    return turns


def _check_tinyrs_solution(solution: Any, errors: list[str]) -> None:
    if not isinstance(solution, list) or len(solution) != 4:
        length = f" of length {len(solution)}" if isinstance(solution, list) else ""
        errors.append(
            f"'solution' must be a list [answer_type, answer, question, image_base64], got {json_type(solution)}"
            f"{length}"
        )
        return
    for position, item in enumerate(solution):
        if not isinstance(item, str):
            errors.append(f"solution[{position}] must be a string, got {json_type(item)}")
    answer_type, answer = solution[0], solution[1]
    if isinstance(answer_type, str) and answer_type not in TINYRS_TASKS:
        errors.append(f'answer_type must be "0", "1" or "2", got {answer_type!r}')
    if answer_type == "2" and isinstance(answer, str):
        box = parse_box(answer)  # the box the IoU reward reads (grpo.rewards.tinyrs.box_reward)
        if len(_NUMBER.findall(answer)) != 4 or box is None:
            errors.append(f'answer_type "2" needs a box of four numbers, got {answer!r}')
        elif box[2] <= box[0] or box[3] <= box[1]:
            errors.append(f'answer_type "2" box {answer!r} is inverted or empty (x2 <= x1 or y2 <= y1): IoU 0 always')


def check_tinyrs_solution(solution: Any) -> list[str]:
    """The problems of a stored TinyRS `solution` (empty when it is a valid [answer_type, answer, question, b64])."""
    errors: list[str] = []
    _check_tinyrs_solution(solution, errors)
    return errors


def tinyrs_fields(solution: list[str], question: str | None = None) -> dict[str, Any]:
    """The typed fields of a TinyRS record from its checked `solution` [answer_type, answer, question, image_base64]:
    task (by answer_type), solution (the answer) and extra (question: the `question` column when given, else
    solution[2]; answer_type). One mapping for read_tinyrs_grpo and rows pasted into `python -m grpo.rewards`."""
    answer_type = solution[0]
    return {
        "task": TINYRS_TASKS[answer_type],
        "solution": solution[1],
        "extra": {"question": solution[2] if question is None else question, "answer_type": answer_type},
    }


def _load_tinyrs(path_or_id: str | os.PathLike, split: str):
    import datasets  # deferred: importing datasets costs seconds, and only this reader needs it

    source = str(path_or_id)
    try:
        if os.path.isdir(path_or_id):
            dataset = datasets.load_from_disk(source)
        else:
            dataset = datasets.load_dataset(source, split=split)
    except Exception as exc:  # datasets raises many types (FileNotFoundError, ConnectionError, ...) for one cause
        raise DataError(source, None, f"cannot load dataset ({type(exc).__name__}: {exc})") from exc
    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise DataError(source, None, f"no split {split!r} (splits: {', '.join(dataset)})")
        dataset = dataset[split]
    missing = [column for column in ("prompt", "image", "solution") if column not in dataset.column_names]
    if missing:
        raise DataError(source, None, f"missing column(s) {missing} (have {dataset.column_names})")
    if not isinstance(dataset.features["image"], datasets.Image):
        raise DataError(source, None, f"column 'image' must be an Image feature, got {dataset.features['image']}")
    # Undecoded rows keep only the encoded bytes in memory; records open them lazily (header only).
    return dataset.cast_column("image", datasets.Image(decode=False))


def read_tinyrs_grpo(
    path_or_id: str | os.PathLike, split: str = "train", *, policy: Policy = "error", decode_images: bool = False
) -> ReadResult:
    """TinyRS GRPO data (SPEC 2.3): a save_to_disk folder (DatasetDict or Dataset) or a Hub id.

    answer_type "0" -> task "open_ended", "1" -> "short_answer", "2" -> "bbox"; `solution` is the answer string;
    `extra` holds "question" (the `question` column when present, else solution[2]) and "answer_type". The base64
    copy of the image in solution[3] is validated as a string but not kept: it re-encodes `images[0]`.
    """
    check_policy(policy)
    source = str(path_or_id)
    dataset = _load_tinyrs(path_or_id, split)
    has_question = "question" in dataset.column_names
    has_id = "id" in dataset.column_names

    def parse(row: dict, index: int, errors: list[str]) -> Record | None:
        turns = _prompt_turns(row["prompt"], errors)
        _check_tinyrs_solution(row["solution"], errors)
        image = None
        encoded = row["image"]
        if not encoded or not (encoded.get("bytes") or encoded.get("path")):
            errors.append("image missing")
        else:
            try:
                # Bytes in memory rather than an open file per record: a large split would exhaust file handles.
                data = encoded.get("bytes") or Path(encoded["path"]).read_bytes()
                issue = encoded_problem(io.BytesIO(data), decode=decode_images)
                if issue:
                    errors.append(issue_text(issue))
                else:
                    image = Image.open(io.BytesIO(data))
            except Exception as exc:  # OSError, SyntaxError, ... for a missing or corrupt image
                errors.append(f"image unreadable ({exc})")
        if turns:
            check_placeholders(turns, 1, 0, errors)
        question = row["question"] if has_question else None
        if has_question and not isinstance(question, str):
            errors.append(f"'question' must be a string, got {json_type(question)}")
        if errors:
            return None
        return Record(
            id=str(row["id"]) if has_id else f"{split}-{index}",
            given_id=has_id,
            source=source,
            index=index,
            turns=turns,
            images=[image],
            **tinyrs_fields(row["solution"], question if has_question else None),
        )

    return collect(source, enumerate(dataset), len(dataset), parse, policy, record_id=lambda row: object_id(row, "id"))


def _validate(target: Target) -> ReadResult:
    return read_tinyrs_grpo(target.path, target.split or "train", policy="skip", decode_images=target.decode)


FORMAT = Format(
    read_tinyrs_grpo,
    _validate,
    path="TinyRS save_to_disk folder (or Hub id)",
    split="split to read (default: train)",
    hub=True,
)
