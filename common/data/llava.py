"""LLaVA-style SFT JSON (SPEC 2.1): a JSON array of `{id, image | video, conversations}` objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from .image_checks import MediaResolver
from .jsonio import json_type, load_json_array, object_id
from .records import DataError, Format, Policy, ReadResult, Record, Target, check_policy, collect
from .turns import check_placeholders, parse_conversations

_LLAVA_KEYS = ("id", "image", "video", "conversations")


def string_list(raw: dict, key: str, errors: list[str]) -> list[str]:
    """`key` as a non-empty string or a non-empty array of them (LLaVA `image` / `video`)."""
    value = raw[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
        errors.append(f"'{key}' must be a non-empty string or an array of them, got {json_type(value)}")
        return []
    if not items:
        errors.append(f"'{key}' is an empty array")
    return items


def llava_record(raw: Any, index: int, errors: list[str], *, source: str, media: MediaResolver) -> Record | None:
    """One LLaVA object -> record with every turn (see read_llava; the JSONL reader builds on it); problems go to
    `errors`."""
    if not isinstance(raw, dict):
        errors.append(f"expected an object, got {json_type(raw)}")
        return None
    turns = parse_conversations(raw.get("conversations"), errors)
    if "image" in raw and "video" in raw:
        # The upstream loader reads `image` and silently ignores `video` when both are present.
        errors.append("has both 'image' and 'video'")
    image_names = string_list(raw, "image", errors) if "image" in raw else []
    video_names = string_list(raw, "video", errors) if "video" in raw else []
    if turns:
        check_placeholders(turns, len(image_names), len(video_names), errors)
    images: list[str | Image.Image] = [media.resolve(name, errors) for name in image_names]
    videos = [media.resolve(name, errors, is_image=False) for name in video_names]
    record_id = raw.get("id")
    return Record(
        id=str(record_id) if record_id is not None else f"{Path(source).stem}-{index}",
        given_id=record_id is not None,
        source=source,
        index=index,
        turns=turns,
        images=images,
        videos=videos,
        extra={key: value for key, value in raw.items() if key not in _LLAVA_KEYS},
    )


def read_llava(
    path: str | os.PathLike,
    image_folder: str | os.PathLike | None = None,
    *,
    policy: Policy = "error",
    check_images: bool = True,
    decode_images: bool = False,
) -> ReadResult:
    """LLaVA-style SFT JSON (SPEC 2.1): every turn kept, `solution` None.

    `check_images=False` skips the existence and header checks (paths are still resolved and containment-checked);
    `decode_images=True` decodes every image in full (the validator's thorough check).
    """
    check_policy(policy)
    source = str(path)
    data = load_json_array(path)
    if check_images and image_folder is not None and not os.path.isdir(image_folder):
        raise DataError(source, None, f"image folder does not exist: {image_folder}")
    media = MediaResolver(image_folder, check_exists=check_images, check_header=check_images, decode=decode_images)

    def parse(raw: Any, index: int, errors: list[str]) -> Record | None:
        return llava_record(raw, index, errors, source=source, media=media)

    return collect(source, enumerate(data), len(data), parse, policy, record_id=lambda raw: object_id(raw, "id"))


def _validate(target: Target) -> ReadResult:
    return read_llava(target.path, target.image_folder, policy="skip", decode_images=target.decode)


FORMAT = Format(
    read_llava,
    _validate,
    path="LLaVA JSON file",
    image_folder="folder that relative image paths are joined with",
)
