"""Reading JSON and JSONL files for the readers: file-level problems raise DataError naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .records import DataError


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def read_text(path: str | os.PathLike) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(path, None, f"cannot read file ({exc.strerror or exc})") from exc
    try:
        # utf-8-sig: a byte-order mark, written by some Windows tools, is harmless and dropped.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(path, None, f"not valid UTF-8 (line {line}, byte offset {exc.start})") from exc


def load_json_array(path: str | os.PathLike) -> list:
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, None, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(data, list):
        raise DataError(path, None, f"expected a JSON array of records at the top level, got {json_type(data)}")
    return data


def jsonl_lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line; whitespace-only lines are skipped silently (not records)."""
    return [(number, line) for number, line in enumerate(read_text(path).splitlines(), 1) if line.strip()]


def parse_json_object(line: str, errors: list[str]) -> dict | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        errors.append(f"invalid JSON: {exc.msg} (column {exc.colno})")
        return None
    if not isinstance(value, dict):
        errors.append(f"expected a JSON object, got {json_type(value)}")
        return None
    return value


def object_id(raw: Any, *keys: str) -> str | None:
    """A bad record's own id for its message: the first of `keys` that the object has, as a string (None when it
    has none, or is no object)."""
    if isinstance(raw, dict):
        for key in keys:
            if raw.get(key) is not None:
                return str(raw[key])
    return None


def line_id(line: str, *keys: str) -> str | None:
    """object_id of a JSONL line (None when the line is not a JSON object)."""
    return object_id(parse_json_object(line, []), *keys)
