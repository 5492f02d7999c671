"""Readers for every upstream data format (SPEC 2.1-2.6) into one `Record` type, validating as they read.

Formats (the `READERS` keys): `llava` (SFT JSON, 2.1), `imagefolder` (SAMChat GRPO, 2.2), `tinyrs_grpo`
(save_to_disk DatasetDict or Hub id, 2.3), `jsonl` (VLM-R1 multi-task GRPO, 2.4), `samdata_test` (2.5),
`scorers` (ScoreRS suite, 2.6) and `earthdial` (EarthDial-Bench and training arrow shards, EARTHDIAL.md 3).

Conventions every reader follows:

- Record index: the position in a JSON array or dataset (0-based), or the line number in a JSONL file (1-based,
  as an editor shows it). Every problem names the file and that index: `FILE: record N: message`.
- One `Problem` per bad record: all that is wrong with it, joined by "; ".
- Policy: "error" (default) raises `DataError` at the first bad record; "skip" drops bad records, keeps a `Problem`
  for each and logs one warning with the count. File-level problems (unreadable or non-UTF-8 file, invalid JSON,
  wrong top-level type, missing metadata.jsonl, split or column, no records at all) raise `DataError` under either
  policy: there is no record to skip, and an empty result must never pass for a clean one.
- Turns: `human`/`user` -> user, `gpt`/`assistant` -> assistant, `system` (only as the first turn). Turns alternate
  user/assistant starting with user. SFT records (llava) keep every turn and end with an assistant turn. GRPO and
  eval records (imagefolder, tinyrs_grpo, jsonl, scorers, samdata_test) keep only the prompt, ending with a user
  turn, and carry the reference answer in `solution`. Contents keep their `<image>` / `<video>` placeholders; the
  readers that build a prompt themselves put `<image>` directly before the text, with no newline.
- Placeholders: the number of `<image>` placeholders must equal the number of images (likewise `<video>`), and they
  may only appear in user turns. A record with one image and no placeholder is an error, not silently repaired:
  the upstream SFT code (2U1 fork) hands images to the processor only for a user turn containing `<image>`, so
  such a record crashes its collator, and where the image belongs is content that a reader should not guess.
- Image paths (llava, jsonl): an absolute path, an http(s) URL, or a relative path that exists from the current
  directory is used as given (SPEC 2.1, as upstream); otherwise the path is joined with the image folder and must
  stay inside it. The containment test is lexical (`..` resolved, symlinks not followed): absolute paths are
  legitimate anyway, so the test catches data mistakes rather than guarding a boundary, and image folders are often
  assembled from symlinked shards on other disks. URLs are never checked (no network while reading).
- Image checks: existence, then `PIL.Image.open` + `verify()`, which reads the header and (for PNG) the chunk
  checksums but decodes no pixels, so validating ~1M VHM records costs one open per distinct file (results are
  cached per path). A TIFF that Pillow cannot represent faithfully is checked with tifffile instead (see
  `load_image`). The same pass refuses images over MAX_IMAGE_PIXELS and finds files cut short from their own
  structure (`_encoded_problem`). `decode_images=True` (the validator's default) decodes every image in full.
  Progress bars appear for inputs of `PROGRESS_MIN_RECORDS` records or more.

`load_image` is the one image loader: it always returns an 8-bit RGB image, converting the kinds that remote
sensing produces (16-bit, float, RGBA, palette, grayscale, CMYK, multi-band TIFF) by the rules in its docstring.

CLI: `python -m common.data validate --format FORMAT PATH [--image-folder DIR]` prints one line per bad record and
a summary, exits 1 if any record (or the file) is bad, 2 on a usage error, and never shows a traceback for bad data.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import logging
import math
import os
import re
import sys
import urllib.request
import warnings
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from PIL import Image
from tqdm import tqdm

from common.parsing import parse_box, parse_boxes
from common.prompts import SAMCHAT_GRPO_SUFFIX, SAMCHAT_GRPO_SYSTEM, SAMDATA_PROMPT

logger = logging.getLogger(__name__)

Policy = Literal["error", "skip"]
POLICIES = ("error", "skip")

IMAGE_TOKEN = "<image>"
VIDEO_TOKEN = "<video>"

# LLaVA data spells roles human/gpt; some upstream files use the chat spellings.
ROLE_MAP = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}

# Inputs at least this long get a progress bar (VHM pretraining has ~1M records).
PROGRESS_MIN_RECORDS = 5000

# ScoreRS suite, SPEC 2.6: key -> (file name, task type), in the order `--task all` runs them.
SCORERS_TASKS: dict[str, tuple[str, str]] = {
    "cls_aid": ("cls_AID.json", "cls"),
    "cls_METER_ML": ("cls_METER_ML.json", "cls"),
    "cls_NWPU_RESISC45": ("cls_NWPU_RESISC45.json", "cls"),
    "cls_SIRI": ("cls_SIRI_WHU.json", "cls"),
    "cls_WHU_RS19": ("cls_WHU_RS19.json", "cls"),
    "vqa_HR-comp": ("RSVQA_HR-comp_RSVQA.json", "vqa"),
    "vqa_HR-pre": ("RSVQA_HR-presence_RSVQA.json", "vqa"),
    "vqa_LR-comp": ("RSVQA_LR-comp_RSVQA.json", "vqa"),
    "vqa_LR-pre": ("RSVQA_LR-presence_RSVQA.json", "vqa"),
    "vqa_LR-rural": ("RSVQA_LR-rural_urban_RSVQA.json", "vqa"),
    "rs_vg": ("VG_DOIR_RSVG_test.json", "bbox"),
    "lhrs_bench": ("LHRS-Bench.json", "mcq"),
}
_SCORERS_KEY_BY_FILE = {file_name: key for key, (file_name, _) in SCORERS_TASKS.items()}
# LHRS-Bench categories "1".."11" (SPEC 2.6).
LHRS_CATEGORIES = tuple(str(i) for i in range(1, 12))

# TinyRS GRPO answer types (SPEC 2.3) -> typed task names.
TINYRS_TASKS = {"0": "open_ended", "1": "short_answer", "2": "bbox"}

# The task names a GRPO record may carry (JSONL `task`, SPEC 2.4) and the accuracy rules its `accu_reward_method`
# may ask for: exactly what grpo.rewards scores (its TASKS and GEOVLM_TASKS; tests/grpo/test_data.py keeps the lists
# equal). A name outside them would train with no accuracy reward at all, silently.
GEOVLM_TASKS = (
    "classification",
    "vqa",
    "yes_no",
    "multiple_choice",
    "multilabel",
    "counting",
    "referring_detection",
    "detection",
    "captioning",
)
# The EarthDial families' own rules (grpo.rewards.earthdial), named by the shard readers and usable in JSONL too.
EARTHDIAL_GRPO_TASKS = (
    "temporal_classification",
    "region_classification",
    "referred_detection",
    "image_captioning",
    "change_captioning",
    "region_captioning",
    "grounding_description",
)
GRPO_TASKS = ("samchat", "short_answer", "bbox", "open_ended", *GEOVLM_TASKS, *EARTHDIAL_GRPO_TASKS)

# One pixel limit for every image decoder (Pillow and tifffile), checked from the header before any pixel is decoded,
# in validation and in load_image. The value is Pillow's own default threshold (Image.MAX_IMAGE_PIXELS, ~9459^2):
# Qwen2-VL resizes every image to at most 12.8 MP anyway, and a small file declaring a huge size would otherwise
# allocate gigabytes (a 1.3 MiB 15000x15000x3 uint16 TIFF: 2.7 GB as float32). Change it here for larger inputs.
MAX_IMAGE_PIXELS = 89_478_485

# SAMData test folder (SPEC 2.5): the first character of the file name is the category.
SAMDATA_SUFFIXES = (".jpg", ".jpeg", ".png")
SAMDATA_CATEGORIES = ("0", "1", "2")  # 0 positive easy, 1 positive hard, 2 negative

# Linear stretch of >8-bit data between these per-image percentiles (see load_image).
STRETCH_PERCENTILES = (2.0, 98.0)

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


# ---------------------------------------------------------------------------------------------------------------
# Records and problems


def _where(file: str, index: int | None, message: str) -> str:
    return f"{file}: {message}" if index is None else f"{file}: record {index}: {message}"


class DataError(ValueError):
    """Bad input data: `str(e)` is `FILE: record N: message` (`FILE: message` for a file-level problem)."""

    def __init__(self, file: str | os.PathLike, index: int | None, message: str):
        self.file = str(file)
        self.index = index
        self.message = message
        super().__init__(_where(self.file, index, message))


@dataclass
class Problem:
    file: str
    index: int | None
    message: str

    def __str__(self) -> str:
        return _where(self.file, self.index, self.message)


@dataclass
class Turn:
    role: str  # "system" | "user" | "assistant"
    content: str  # keeps "<image>" / "<video>" placeholders


@dataclass
class Record:
    id: str
    source: str  # the file (or folder / dataset) the record came from
    index: int  # see the module docstring
    turns: list[Turn]
    images: list[str | Image.Image]  # absolute paths, URLs or lazily opened in-memory images; [] = text-only
    videos: list[str] = field(default_factory=list)
    solution: Any = None  # reference answer (GRPO / eval); None for SFT records
    task: str | None = None
    extra: dict = field(default_factory=dict)  # the record's remaining fields


@dataclass
class ReadResult:
    records: list[Record]
    problems: list[Problem]
    total: int  # records examined, good and bad
    ignored: list[str] = field(default_factory=list)  # entries that are not records (samdata_test)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def summary(self) -> str:
        text = f"{self.total} records: {len(self.records)} ok, {self.skipped} bad"
        if self.ignored:
            text += f", {len(self.ignored)} ignored"
        return text


# A record parser fills `errors` with what is wrong and returns the record (ignored when errors is non-empty).
_Parser = Callable[[Any, int, list[str]], "Record | None"]


def _unknown_name(key: str, value: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {key} {value!r}{hint}; known: {', '.join(known)}"


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")


def _collect(
    source: str,
    entries: Iterable[tuple[int, Any]],
    total: int,
    parse: _Parser,
    policy: Policy,
    *,
    ignored: list[str] | None = None,
    empty_hint: str = "",
) -> ReadResult:
    if total == 0:
        # An empty dataset is a mistake (a wrong path, a failed download), never a clean result.
        raise DataError(source, None, f"no records{empty_hint}")
    records: list[Record] = []
    problems: list[Problem] = []
    progress = tqdm(entries, total=total, desc=f"reading {source}", unit="rec", disable=total < PROGRESS_MIN_RECORDS)
    for index, raw in progress:
        errors: list[str] = []
        record = parse(raw, index, errors)
        if not errors:
            records.append(record)
            continue
        message = "; ".join(errors)
        if policy == "error":
            raise DataError(source, index, message)
        problems.append(Problem(source, index, message))
    if problems:
        logger.warning(
            "%s: skipped %d of %d records (policy skip); first: %s", source, len(problems), total, problems[0]
        )
    return ReadResult(records, problems, total, ignored or [])


# ---------------------------------------------------------------------------------------------------------------
# Files and JSON


def _json_type(value: Any) -> str:
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


def _read_text(path: str | os.PathLike) -> str:
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


def _load_json_array(path: str | os.PathLike) -> list:
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, None, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(data, list):
        raise DataError(path, None, f"expected a JSON array of records at the top level, got {_json_type(data)}")
    return data


def _jsonl_lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line; whitespace-only lines are skipped silently (not records)."""
    return [(number, line) for number, line in enumerate(_read_text(path).splitlines(), 1) if line.strip()]


def _parse_json_object(line: str, errors: list[str]) -> dict | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        errors.append(f"invalid JSON: {exc.msg} (column {exc.colno})")
        return None
    if not isinstance(value, dict):
        errors.append(f"expected a JSON object, got {_json_type(value)}")
        return None
    return value


# ---------------------------------------------------------------------------------------------------------------
# Turns and placeholders


def _check_roles(turns: list[Turn], raw_roles: list[str], errors: list[str], *, last: str) -> None:
    """Optional leading system turn, then user/assistant alternating from user, ending with `last`."""
    start = 1 if turns and turns[0].role == "system" else 0
    for position in range(start, len(turns)):
        expected = "user" if (position - start) % 2 == 0 else "assistant"
        if turns[position].role != expected:
            article = "an" if expected == "assistant" else "a"
            errors.append(f"turn {position}: expected {article} {expected} turn, got {raw_roles[position]!r}")
            return
    if len(turns) == start:
        errors.append("no user turn")
    elif turns[-1].role != last:
        errors.append(
            "conversation ends with a user turn (no assistant reply)"
            if last == "assistant"
            else "prompt ends with an assistant turn (expected a user turn last)"
        )


def _parse_conversations(value: Any, errors: list[str]) -> list[Turn]:
    """LLaVA `conversations` (`from` / `value`) -> turns, with role and alternation checks."""
    if value is None:
        errors.append("missing 'conversations'")
        return []
    if not isinstance(value, list):
        errors.append(f"'conversations' must be an array, got {_json_type(value)}")
        return []
    if not value:
        errors.append("'conversations' is empty")
        return []
    turns: list[Turn] = []
    raw_roles: list[str] = []
    ok = True
    for position, turn in enumerate(value):
        if not isinstance(turn, dict):
            errors.append(f"turn {position}: expected an object, got {_json_type(turn)}")
            ok = False
            continue
        raw_role, content = turn.get("from"), turn.get("value")
        if raw_role not in ROLE_MAP:
            errors.append(f"turn {position}: unknown role {raw_role!r} (expected human/gpt)")
            ok = False
        if not isinstance(content, str):
            errors.append(f"turn {position}: 'value' must be a string, got {_json_type(content)}")
            ok = False
        elif not content.strip():
            errors.append(f"turn {position}: empty {ROLE_MAP.get(raw_role, 'turn')} text")
            ok = False
        if ok:
            turns.append(Turn(ROLE_MAP[raw_role], content))
            raw_roles.append(raw_role)
    if not ok:
        return []
    _check_roles(turns, raw_roles, errors, last="assistant")
    return turns


def _check_placeholders(turns: list[Turn], n_images: int, n_videos: int, errors: list[str]) -> None:
    for token, count, noun in ((IMAGE_TOKEN, n_images, "image"), (VIDEO_TOKEN, n_videos, "video")):
        for position, turn in enumerate(turns):
            if turn.role != "user" and token in turn.content:
                errors.append(f"turn {position}: {token} placeholder outside a user turn ({turn.role})")
        placeholders = sum(turn.content.count(token) for turn in turns if turn.role == "user")
        if placeholders != count:
            errors.append(f"{count} {noun}(s) but {placeholders} {token} placeholder(s)")


def _string_list(raw: dict, key: str, errors: list[str]) -> list[str]:
    """`key` as a non-empty string or a non-empty array of them (LLaVA `image` / `video`)."""
    value = raw[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
        errors.append(f"'{key}' must be a non-empty string or an array of them, got {_json_type(value)}")
        return []
    if not items:
        errors.append(f"'{key}' is an empty array")
    return items


# ---------------------------------------------------------------------------------------------------------------
# Image paths and checks


def _is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _is_wide_tiff(img: Image.Image) -> bool:
    """A multi-sample TIFF with more than 8 bits per sample: Pillow keeps only the high byte of each sample."""
    if img.format != "TIFF":
        return False
    tags = getattr(img, "tag_v2", {})
    bits = tags.get(258, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    return tags.get(277, 1) > 1 and max(bits) > 8


def _import_tifffile(name: str):
    try:
        import tifffile
    except ImportError as exc:
        raise DataError(
            name,
            None,
            "this TIFF (multi-band or over 8 bits per band) needs the tifffile package: pip install tifffile",
        ) from exc
    return tifffile


def _too_large(width: int, height: int, planes: int = 1) -> str | None:
    """Why an image of this extent is refused (MAX_IMAGE_PIXELS), or None."""
    pixels = width * height * planes
    if pixels <= MAX_IMAGE_PIXELS:
        return None
    extent = f"{width}x{height}" + (f"x{planes} planes" if planes > 1 else "")
    return f"{extent} is {pixels:,} pixels, over the limit of {MAX_IMAGE_PIXELS:,}: a decompression bomb?"


def _bomb_text(error: Exception) -> str:
    """Pillow's DecompressionBombError (raised by Image.open above twice its own limit) in the words of _too_large."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    pixels = f"{int(found.group(1)):,} pixels" if found else "the image"
    return f"{pixels} is over the limit of {MAX_IMAGE_PIXELS:,}: a decompression bomb?"


def _pil_open(source: BinaryIO) -> Image.Image:
    """Image.open without Pillow's DecompressionBombWarning: the limit is MAX_IMAGE_PIXELS, checked by the callers
    (Pillow itself still raises DecompressionBombError above twice its own limit, which they report alike)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(source)


def _series_extent(series: Any) -> tuple[int, int, int]:
    """(width, height, planes) of a tifffile series: planes counts every non-band axis beyond Y and X (pages, time,
    depth), since `asarray` decodes all of them."""
    width = height = planes = 1
    for axis, length in zip(series.axes, series.shape):
        if axis == "X":
            width = length
        elif axis == "Y":
            height = length
        elif axis not in "SC":
            planes *= length
    return width, height, planes


def _data_end(offsets: Any, counts: Any) -> int:
    offsets = offsets if isinstance(offsets, (tuple, list)) else (offsets,)
    counts = counts if isinstance(counts, (tuple, list)) else (counts,)
    return max((int(o) + int(c) for o, c in zip(offsets, counts)), default=0)


def _cut_short(end: int, size: int) -> str | None:
    return f"its pixel data ends at byte {end:,}, the file has {size:,}" if end > size else None


# What is wrong with an encoded image: (kind, detail), kind "unreadable" | "too large" | "truncated"; kind "" for a
# message that stands alone (tifffile missing).
_ImageIssue = tuple[str, str]


def _encoded_problem(handle: BinaryIO, *, decode: bool = False) -> _ImageIssue | None:
    """What makes the encoded image in `handle` unusable, or None. Without `decode`, judged without decoding pixels:
    Pillow's header parse and `verify()` (for PNG it reads every chunk and checks its checksum), the pixel limit,
    and truncation seen from the file's own structure: a TIFF's strips or tiles must lie inside the file, and a
    JPEG must end with its end-of-image marker (when it does not, the image is decoded to decide: some writers
    append bytes after a whole image). TIFFs that Pillow cannot represent are checked with tifffile. `decode`:
    besides, the whole image is decoded by load_image, which finds any damage a decoder can see."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    magic = handle.read(4)
    handle.seek(0)
    try:
        with _pil_open(handle) as img:
            if not _is_wide_tiff(img):
                if problem := _too_large(*img.size):
                    return "too large", problem
                if img.format == "TIFF":
                    tags = img.tag_v2
                    offsets, counts = (273, 279) if 273 in tags else (324, 325)
                    if problem := _cut_short(_data_end(tags.get(offsets, ()), tags.get(counts, ())), size):
                        return "truncated", problem
                is_jpeg = img.format == "JPEG"
                img.verify()
                if is_jpeg and (problem := _jpeg_end_problem(handle, size)):
                    return "truncated", problem
                return _decode_problem(handle) if decode else None
    except Image.DecompressionBombError as exc:
        return "too large", _bomb_text(exc)
    except Exception as exc:  # Pillow reports corrupt files as OSError, SyntaxError, struct.error, ...: all unreadable
        if magic not in _TIFF_MAGIC:
            return "unreadable", str(exc)
    try:
        handle.seek(0)
        with _import_tifffile("").TiffFile(handle) as tif:
            series = tif.series[0]
            if problem := _too_large(*_series_extent(series)):
                return "too large", problem
            for page in series.pages:
                end = _data_end(tuple(getattr(page, "dataoffsets", ())), tuple(getattr(page, "databytecounts", ())))
                if problem := _cut_short(end, size):
                    return "truncated", problem
    except DataError as exc:
        return "", exc.message
    except Exception as exc:  # tifffile raises ValueError, TiffFileError, ... for files it cannot parse
        return "unreadable", str(exc)
    return _decode_problem(handle) if decode else None


def _jpeg_end_problem(handle: BinaryIO, size: int) -> str | None:
    handle.seek(max(0, size - 64))
    if handle.read().rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9"):
        return None
    handle.seek(0)
    try:
        with _pil_open(handle) as img:
            img.load()
    except Exception as exc:  # Pillow: OSError "image file is truncated (N bytes not processed)", ...
        return f"no JPEG end-of-image marker, and decoding fails: {exc}"
    return None


def _decode_problem(handle: BinaryIO) -> _ImageIssue | None:
    handle.seek(0)
    try:
        load_image(handle.read())
    except DataError as exc:
        for kind, prefix in (("too large", "image too large ("), ("unreadable", "unreadable image (")):
            if exc.message.startswith(prefix) and exc.message.endswith(")"):
                return kind, exc.message[len(prefix) : -1]
        return "unreadable", exc.message
    return None


def _issue_text(issue: _ImageIssue, path: str | None = None) -> str:
    kind, detail = issue
    if not kind:
        return f"{path}: {detail}" if path else detail
    return f"image {kind}: {path} ({detail})" if path else f"image {kind} ({detail})"


def _image_problem(path: str, *, decode: bool = False) -> str | None:
    """None if the image file is usable, else why not, naming the file (see `_encoded_problem`)."""
    try:
        with open(path, "rb") as handle:
            issue = _encoded_problem(handle, decode=decode)
    except OSError as exc:
        return f"image unreadable: {path} ({exc.strerror or exc})"
    return _issue_text(issue, path) if issue else None


class _MediaResolver:
    """Resolves image / video names of one file against its image folder, checking each distinct name once."""

    def __init__(
        self,
        folder: str | os.PathLike | None,
        *,
        check_exists: bool,
        check_header: bool,
        as_given_first: bool = True,
        decode: bool = False,
    ):
        self.folder = os.path.abspath(folder) if folder is not None else None
        self.check_exists = check_exists
        self.check_header = check_header
        # SPEC 2.1 (LLaVA, JSONL): a path that exists as given wins over the image folder; ScoreRS always joins.
        self.as_given_first = as_given_first
        self.decode = decode  # decode every image in full (validation), not only its header
        self._cache: dict[tuple[str, bool], tuple[str, str | None]] = {}

    def resolve(self, name: str, errors: list[str], *, is_image: bool = True) -> str:
        key = (name, is_image)
        if key not in self._cache:
            self._cache[key] = self._resolve(name, is_image)
        path, problem = self._cache[key]
        if problem:
            errors.append(problem)
        return path

    def _resolve(self, name: str, is_image: bool) -> tuple[str, str | None]:
        if _is_url(name):
            return name, None
        if os.path.isabs(name) or (self.as_given_first and os.path.exists(name)):
            path = os.path.abspath(name)
        elif self.folder is None:
            path = os.path.abspath(name)
            if self.check_exists:
                return path, f"{'image' if is_image else 'video'} not found: {name!r} (relative path, no image folder)"
        else:
            path = os.path.normpath(os.path.join(self.folder, name))
            if not _inside(path, self.folder):
                return path, f"path {name!r} escapes image folder {self.folder}"
        if self.check_exists and not os.path.isfile(path):
            return path, f"{'image' if is_image else 'video'} not found: {path}"
        if self.check_header and is_image:
            return path, _image_problem(path, decode=self.decode)
        return path, None


# ---------------------------------------------------------------------------------------------------------------
# LLaVA JSON (SPEC 2.1) and VLM-R1 JSONL (SPEC 2.4)

_LLAVA_KEYS = ("id", "image", "video", "conversations")


def _parse_llava_object(
    raw: Any, index: int, errors: list[str], *, source: str, media: _MediaResolver
) -> Record | None:
    if not isinstance(raw, dict):
        errors.append(f"expected an object, got {_json_type(raw)}")
        return None
    turns = _parse_conversations(raw.get("conversations"), errors)
    if "image" in raw and "video" in raw:
        # The upstream loader reads `image` and silently ignores `video` when both are present.
        errors.append("has both 'image' and 'video'")
    image_names = _string_list(raw, "image", errors) if "image" in raw else []
    video_names = _string_list(raw, "video", errors) if "video" in raw else []
    if turns:
        _check_placeholders(turns, len(image_names), len(video_names), errors)
    images: list[str | Image.Image] = [media.resolve(name, errors) for name in image_names]
    videos = [media.resolve(name, errors, is_image=False) for name in video_names]
    record_id = raw.get("id")
    return Record(
        id=str(record_id) if record_id is not None else f"{Path(source).stem}-{index}",
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
    _check_policy(policy)
    source = str(path)
    data = _load_json_array(path)
    if check_images and image_folder is not None and not os.path.isdir(image_folder):
        raise DataError(source, None, f"image folder does not exist: {image_folder}")
    media = _MediaResolver(image_folder, check_exists=check_images, check_header=check_images, decode=decode_images)

    def parse(raw: Any, index: int, errors: list[str]) -> Record | None:
        return _parse_llava_object(raw, index, errors, source=source, media=media)

    return _collect(source, enumerate(data), len(data), parse, policy)


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
    _check_policy(policy)
    source = str(path)
    lines = _jsonl_lines(path)
    if image_folder is not None and not os.path.isdir(image_folder):
        raise DataError(source, None, f"image folder does not exist: {image_folder}")
    media = _MediaResolver(image_folder, check_exists=True, check_header=True, decode=decode_images)

    def parse(line: str, index: int, errors: list[str]) -> Record | None:
        raw = _parse_json_object(line, errors)
        if raw is None:
            return None
        return jsonl_record(raw, index, errors, source=source, media=media, tasks=tasks, reward_methods=reward_methods)

    return _collect(source, lines, len(lines), parse, policy)


def jsonl_record(
    raw: Any,
    index: int,
    errors: list[str],
    *,
    source: str,
    media: _MediaResolver | None = None,
    tasks: Collection[str] | None = None,
    reward_methods: Collection[str] | None = None,
) -> Record | None:
    """One VLM-R1 JSONL object -> record (see read_jsonl, also for `tasks` / `reward_methods`); problems go to
    `errors`. media None: image names are taken as given, unchecked (a row pasted into `python -m grpo.rewards`,
    which needs no image)."""
    if media is None:
        media = _MediaResolver(None, check_exists=False, check_header=False)
    record = _parse_llava_object(raw, index, errors, source=source, media=media)
    if isinstance(raw, dict):
        for key, known in (("task", tasks), ("accu_reward_method", reward_methods)):
            if key in raw and not isinstance(raw[key], str):
                errors.append(f"'{key}' must be a string, got {_json_type(raw[key])}")
            elif key in raw and known is not None and raw[key] not in known:
                errors.append(_unknown_name(key, raw[key], known))
    if errors or record is None:
        return None
    record.solution = record.turns[-1].content
    record.turns = record.turns[:-1]
    record.task = raw.get("task")
    return record


# ---------------------------------------------------------------------------------------------------------------
# SAMChat GRPO imagefolder (SPEC 2.2)


def read_imagefolder(
    data_dir: str | os.PathLike, *, policy: Policy = "error", decode_images: bool = False
) -> ReadResult:
    """`data_dir/metadata.jsonl` rows (`file_name`, `question`, `solution` "0"/"1") -> task "samchat" records.

    Read directly, without `datasets`, so that validation names the metadata line of every problem; the folder is
    also a valid `datasets.load_dataset("imagefolder", data_dir=...)` input. Turns are the SAMChat GRPO prompt
    (SPEC 4); `extra["question"]` keeps the bare question.
    """
    _check_policy(policy)
    folder = os.path.abspath(data_dir)
    metadata = Path(data_dir) / "metadata.jsonl"
    source = str(metadata)
    if not metadata.is_file():
        raise DataError(data_dir, None, "no metadata.jsonl in this folder")
    lines = _jsonl_lines(metadata)

    def parse(line: str, index: int, errors: list[str]) -> Record | None:
        raw = _parse_json_object(line, errors)
        if raw is None:
            return None
        return samchat_record(raw, index, errors, source=source, folder=folder, decode=decode_images)

    return _collect(source, lines, len(lines), parse, policy)


def samchat_record(
    raw: dict, index: int, errors: list[str], *, source: str, folder: str | None = None, decode: bool = False
) -> Record | None:
    """One SAMChat metadata.jsonl row -> record (see read_imagefolder); problems go to `errors`. folder None: the
    file name is kept as given, unchecked (a row pasted into `python -m grpo.rewards`, which needs no image).
    decode: decode the image in full (validation), not only its header."""
    file_name, question, solution = raw.get("file_name"), raw.get("question"), raw.get("solution")
    if not isinstance(question, str) or not question.strip():
        errors.append(f"'question' must be a non-empty string, got {_json_type(question)}")
    if solution not in ("0", "1"):
        errors.append(f'\'solution\' must be the string "0" or "1", got {json.dumps(solution)}')
    path = ""
    if not isinstance(file_name, str) or not file_name:
        errors.append(f"'file_name' must be a non-empty string, got {_json_type(file_name)}")
    elif folder is None:
        path = file_name
    else:
        # datasets refuses absolute file names and `..` escapes; say so here, with the line number.
        path = os.path.normpath(os.path.join(folder, file_name))
        if os.path.isabs(file_name) or not _inside(path, folder):
            errors.append(f"file_name {file_name!r} escapes image folder {folder}")
        elif not os.path.isfile(path):
            errors.append(f"image not found: {path}")
        elif problem := _image_problem(path, decode=decode):
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


# ---------------------------------------------------------------------------------------------------------------
# TinyRS GRPO DatasetDict (SPEC 2.3)


def _prompt_turns(messages: Any, errors: list[str]) -> list[Turn]:
    """Conversational prompt messages -> turns; an image part becomes `<image>`, text parts are concatenated."""
    if not isinstance(messages, list) or not messages:
        errors.append(f"'prompt' must be a non-empty list of messages, got {_json_type(messages)}")
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
    _check_roles(turns, raw_roles, errors, last="user")
    return turns


def _check_tinyrs_solution(solution: Any, errors: list[str]) -> None:
    if not isinstance(solution, list) or len(solution) != 4:
        length = f" of length {len(solution)}" if isinstance(solution, list) else ""
        errors.append(
            f"'solution' must be a list [answer_type, answer, question, image_base64], got {_json_type(solution)}"
            f"{length}"
        )
        return
    for position, item in enumerate(solution):
        if not isinstance(item, str):
            errors.append(f"solution[{position}] must be a string, got {_json_type(item)}")
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
    _check_policy(policy)
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
                issue = _encoded_problem(io.BytesIO(data), decode=decode_images)
                if issue:
                    errors.append(_issue_text(issue))
                else:
                    image = Image.open(io.BytesIO(data))
            except Exception as exc:  # OSError, SyntaxError, ... for a missing or corrupt image
                errors.append(f"image unreadable ({exc})")
        if turns:
            _check_placeholders(turns, 1, 0, errors)
        question = row["question"] if has_question else None
        if has_question and not isinstance(question, str):
            errors.append(f"'question' must be a string, got {_json_type(question)}")
        if errors:
            return None
        return Record(
            id=str(row["id"]) if has_id else f"{split}-{index}",
            source=source,
            index=index,
            turns=turns,
            images=[image],
            **tinyrs_fields(row["solution"], question if has_question else None),
        )

    return _collect(source, enumerate(dataset), len(dataset), parse, policy)


# ---------------------------------------------------------------------------------------------------------------
# ScoreRS suite (SPEC 2.6)


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
    _check_policy(policy)
    source = str(json_path)
    data = _load_json_array(json_path)
    stem = Path(json_path).stem
    task = _SCORERS_KEY_BY_FILE.get(Path(json_path).name, stem)
    root = os.path.abspath(data_root)
    resolvers: dict[str, _MediaResolver] = {}
    is_grounding = SCORERS_TASKS.get(task, ("", ""))[1] == "bbox"

    def parse(raw: Any, index: int, errors: list[str]) -> Record | None:
        if not isinstance(raw, dict):
            errors.append(f"expected an object, got {_json_type(raw)}")
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
            errors.append(f"'image_path' must be a non-empty string, got {_json_type(image_path)}")
            image_path = None
        folder = os.path.join(root, image_path) if image_path else os.path.join(root, stem)
        if folder not in resolvers:
            resolvers[folder] = _MediaResolver(
                folder, check_exists=True, check_header=True, as_given_first=False, decode=decode_images
            )
        name = raw.get("image")
        path = ""
        if not isinstance(name, str) or not name:
            errors.append(f"'image' must be a non-empty string, got {_json_type(name)}")
        elif os.path.isabs(name) or _is_url(name):
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
            source=source,
            index=index,
            turns=[Turn("user", conversations[0]["value"])],
            images=[path],
            solution=conversations[1]["value"],
            task=task,
            extra={key: value for key, value in raw.items() if key not in ("image", "conversations")},
        )

    return _collect(source, enumerate(data), len(data), parse, policy)


# ---------------------------------------------------------------------------------------------------------------
# SAMData test folder (SPEC 2.5)


def read_samdata_test(
    folder: str | os.PathLike, *, policy: Policy = "error", decode_images: bool = False
) -> ReadResult:
    """Images `*.jpg|*.jpeg|*.png` (any case) named `<category>...`, sorted by name; `solution` = category
    ("0" positive easy, "1" positive hard, "2" negative). Every other entry is not a sample: listed in `ignored`,
    not an error. Turns: the SAMData evaluation prompt (SPEC 6.1) after the image.
    """
    _check_policy(policy)
    source = str(folder)
    if not os.path.isdir(folder):
        raise DataError(source, None, "not a folder")
    samples, ignored = [], []
    for name in sorted(os.listdir(folder)):
        is_sample = name.lower().endswith(SAMDATA_SUFFIXES) and name[:1] in SAMDATA_CATEGORIES
        if is_sample and os.path.isfile(os.path.join(folder, name)):
            samples.append(name)
        else:
            ignored.append(name)
    if ignored:
        logger.info("%s: %d entries are not SAMData samples and were ignored", source, len(ignored))
    root = os.path.abspath(folder)

    def parse(name: str, index: int, errors: list[str]) -> Record | None:
        path = os.path.join(root, name)
        if problem := _image_problem(path, decode=decode_images):
            errors.append(problem)
            return None
        return Record(
            id=name,
            source=source,
            index=index,
            turns=[Turn("user", IMAGE_TOKEN + SAMDATA_PROMPT)],
            images=[path],
            solution=name[0],
            task="samdata",
        )

    hint = " (no sample images: a sample is named <0|1|2>... and ends in .jpg, .jpeg or .png"
    hint += f"; {len(ignored)} entries are not samples)" if ignored else ")"
    return _collect(source, enumerate(samples), len(samples), parse, policy, ignored=ignored, empty_hint=hint)


# ---------------------------------------------------------------------------------------------------------------
# EarthDial arrow shards (EARTHDIAL.md 2, 3.x)

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
            errors.append(f"obj_ids[{position}] must be a box string, got {_json_type(entry)}")
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
    _check_policy(policy)
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
                errors.append(f"'{column}' must be a string, got {_json_type(value)}")
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
            source=source,
            index=index,
            turns=[Turn("user", question)],
            images=images,
            solution=list(answers) if five else answers[0],
            extra={key: value for key, value in row.items() if key not in known},
        )

    return _collect(source, enumerate(dataset), len(dataset), parse, policy)


READERS: dict[str, Callable[..., ReadResult]] = {
    "llava": read_llava,
    "imagefolder": read_imagefolder,
    "tinyrs_grpo": read_tinyrs_grpo,
    "jsonl": read_jsonl,
    "scorers": read_scorers,
    "samdata_test": read_samdata_test,
    "earthdial": read_earthdial,
}


# ---------------------------------------------------------------------------------------------------------------
# Images


def _stretch(values: np.ndarray) -> np.ndarray:
    """>8-bit data -> uint8 by a linear stretch between the 2nd and 98th percentiles of the finite values.

    Remote-sensing 16-bit and float rasters rarely fill their range (12-bit sensors, reflectance in 0..1, rare hot
    pixels), so dividing by the type's maximum leaves them nearly black and a plain min-max stretch lets a few
    outliers do the same; the 2-98% cut is the usual display default of GIS tools. One range serves every band, so
    band ratios (colour) survive. Fallbacks: min-max when the percentiles coincide (e.g. a sparse mask), black for a
    constant or entirely non-finite image; non-finite pixels become 0.
    """
    data = values.astype(np.float32)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    valid = data[finite]
    low, high = np.percentile(valid, STRETCH_PERCENTILES)
    if high <= low:
        low, high = valid.min(), valid.max()
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = np.clip((data - low) * (255.0 / (high - low)), 0, 255)
    scaled[~finite] = 0
    return np.rint(scaled).astype(np.uint8)


def _array_to_rgb(array: np.ndarray) -> Image.Image:
    """(H, W) or (H, W, bands) -> RGB: the first three bands (one band -> gray); non-uint8 data stretched."""
    if array.ndim == 2:
        array = array[..., None]
    bands = array[..., :3] if array.shape[-1] >= 3 else array[..., :1]
    if bands.dtype != np.uint8:
        bands = _stretch(bands)
    if bands.shape[-1] == 1:
        bands = np.repeat(bands, 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(bands))


def _composite_on_black(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")


def _pil_to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in _HIGH_DEPTH_MODES:
        return _array_to_rgb(np.asarray(img))
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        return _composite_on_black(img)
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _tiff_array(source: str | io.BytesIO, name: str) -> np.ndarray:
    """The first image series of a TIFF as (H, W) or (H, W, bands), whatever its planar layout."""
    tifffile = _import_tifffile(name)
    try:
        with tifffile.TiffFile(source) as tif:
            series = tif.series[0]
            # The pixel limit before decoding: tifffile has no guard of its own.
            too_large = _too_large(*_series_extent(series))
            if too_large is None:
                array, axes = series.asarray(), series.axes
    except Exception as exc:  # tifffile raises ValueError, TiffFileError, ... for files it cannot parse
        raise DataError(name, None, f"unreadable image ({exc})") from exc
    if too_large:
        raise DataError(name, None, f"image too large ({too_large})")
    band_axis = next((axes.index(a) for a in "SC" if a in axes), None)
    if band_axis is not None:
        array = np.moveaxis(array, band_axis, -1)
    while array.ndim > (3 if band_axis is not None else 2):
        array = array[0]  # further leading axes (pages, time, depth): the first plane
    return array


def load_image(src: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """Any image source -> an 8-bit RGB PIL image. Raises DataError naming the source when it cannot be read.

    Sources: a path, an http(s) URL (downloaded), encoded bytes, or a PIL image. Conversions:
    - RGB: unchanged. Grayscale (L, 1), palette (P) and CMYK: Pillow's conversion.
    - 16-bit (I;16*), 32-bit integer (I) and float (F) data: stretched to 8 bits (`_stretch`: 2-98% per image).
    - Alpha (RGBA, LA, PA, palette transparency): composited on black, so transparent no-data areas read as black
      rather than as whatever colour the hidden pixels happen to hold.
    - TIFFs that Pillow cannot represent faithfully (several bands with more than 8 bits each, which Pillow cuts to
      the high byte; more than four bands, which it cannot open) are read with tifffile: the first three bands
      (one band -> gray), stretched like 16-bit data when not 8-bit. EXIF orientation is not applied (upstream
      loaders do not apply it either).
    Every decoder refuses an image over MAX_IMAGE_PIXELS from its header, before decoding ("image too large").
    """
    if isinstance(src, Image.Image):
        if too_large := _too_large(*src.size):
            raise DataError("<image>", None, f"image too large ({too_large})")
        return _pil_to_rgb(src)
    if isinstance(src, bytes):
        name, data = "<image bytes>", src
    elif _is_url(str(src)):
        name = str(src)
        try:
            with urllib.request.urlopen(name, timeout=60) as response:
                data = response.read()
        except (OSError, ValueError) as exc:
            raise DataError(name, None, f"cannot download image ({exc})") from exc
    else:
        name = str(src)
        try:
            data = Path(src).read_bytes()
        except OSError as exc:
            raise DataError(name, None, f"cannot read image ({exc.strerror or exc})") from exc
    try:
        img = _pil_open(io.BytesIO(data))
        too_large = None if _is_wide_tiff(img) else _too_large(*img.size)
        if too_large is None and not _is_wide_tiff(img):
            img.load()
            return _pil_to_rgb(img)
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit, which is MAX_IMAGE_PIXELS
        raise DataError(name, None, f"image too large ({_bomb_text(exc)})") from None
    except Exception as exc:  # Pillow reports corrupt / unsupported files with many exception types
        if data[:4] not in _TIFF_MAGIC:
            raise DataError(name, None, f"unreadable image ({exc})") from exc
        too_large = None
    if too_large:
        raise DataError(name, None, f"image too large ({too_large})")
    return _array_to_rgb(_tiff_array(io.BytesIO(data), name))


# ---------------------------------------------------------------------------------------------------------------
# CLI

_USES_IMAGE_FOLDER = ("llava", "jsonl", "scorers")


def _emit(line: str) -> None:
    print(line)  # noqa: T201 - CLI output


def _read_for_cli(fmt: str, path: str, image_folder: str | None, split: str | None, decode: bool = True) -> ReadResult:
    if fmt == "llava":
        return read_llava(path, image_folder, policy="skip", decode_images=decode)
    if fmt == "jsonl":
        # The JSONL format is GRPO's (SPEC 2.4): task names are checked as grpo.train checks them.
        return read_jsonl(
            path, image_folder, policy="skip", tasks=GRPO_TASKS, reward_methods=GEOVLM_TASKS, decode_images=decode
        )
    if fmt == "scorers":
        return read_scorers(path, image_folder or Path(path).parent, policy="skip", decode_images=decode)
    if fmt == "tinyrs_grpo":
        return read_tinyrs_grpo(path, split or "train", policy="skip", decode_images=decode)
    if fmt in ("imagefolder", "samdata_test"):
        return READERS[fmt](path, policy="skip", decode_images=decode)
    if fmt == "earthdial":
        return read_earthdial(path, split=split, policy="skip")
    return READERS[fmt](path, policy="skip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.data", description="Check data in an upstream format.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser(
        "validate",
        help="print one line per bad record and a summary; exit 1 if any record is bad",
        description="Validate PATH in FORMAT: one line per bad record, then a summary. Exit 0 if all records are "
        "good, 1 if any record (or the file itself) is bad, 2 on a usage error.",
    )
    validate.add_argument("--format", required=True, choices=sorted(READERS), dest="fmt")
    validate.add_argument(
        "path",
        metavar="PATH",
        help="JSON / JSONL file, imagefolder or SAMData folder, ScoreRS task file, TinyRS save_to_disk folder "
        "(or Hub id), or EarthDial shard folder",
    )
    validate.add_argument(
        "--image-folder",
        metavar="DIR",
        help="llava / jsonl: folder that relative image paths are joined with; scorers: data_root (default: the "
        "JSON file's folder)",
    )
    validate.add_argument(
        "--split",
        default=None,
        help="tinyrs_grpo: split to read (default: train); earthdial: split of a DatasetDict shard (default: its "
        "only split)",
    )
    validate.add_argument(
        "--header-only",
        action="store_true",
        help="check image headers only (as training does at start-up) instead of decoding every image in full; "
        "faster, but misses damage that only decoding shows",
    )
    args = parser.parse_args(argv)

    if args.image_folder is not None and args.fmt not in _USES_IMAGE_FOLDER:
        parser.error(f"--image-folder does not apply to --format {args.fmt}")
    if args.image_folder is not None and not os.path.isdir(args.image_folder):
        parser.error(f"--image-folder {args.image_folder}: no such folder")
    # A tinyrs_grpo PATH that is not on disk may be a Hub id; every other PATH must exist.
    if args.fmt != "tinyrs_grpo" and not os.path.exists(args.path):
        parser.error(f"PATH {args.path}: no such file or folder")

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        result = _read_for_cli(args.fmt, args.path, args.image_folder, args.split, decode=not args.header_only)
    except DataError as exc:
        _emit(str(exc))
        _emit(f"validated 0 records: the file itself is bad (format {args.fmt})")
        return 1
    for problem in result.problems:
        _emit(str(problem))
    _emit(f"validated {result.summary()} (format {args.fmt})")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
