"""Image checks while reading: is each image there, inside its folder, and usable, judged from its header and
structure (or by decoding it in full for the validator), each distinct file checked once."""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from PIL import Image

from .images import (
    TIFF_MAGIC,
    bomb_text,
    import_tifffile,
    is_url,
    is_wide_tiff,
    load_image,
    over_pixel_limit,
    pil_open,
    series_extent,
)
from .records import DataError


def _data_end(offsets: Any, counts: Any) -> int:
    offsets = offsets if isinstance(offsets, (tuple, list)) else (offsets,)
    counts = counts if isinstance(counts, (tuple, list)) else (counts,)
    return max((int(o) + int(c) for o, c in zip(offsets, counts)), default=0)


def _cut_short(end: int, size: int) -> str | None:
    return f"its pixel data ends at byte {end:,}, the file has {size:,}" if end > size else None


# What is wrong with an encoded image: (kind, detail), kind "unreadable" | "too large" | "truncated"; kind "" for a
# message that stands alone (tifffile missing).
_ImageIssue = tuple[str, str]


def encoded_problem(handle: BinaryIO, *, decode: bool = False) -> _ImageIssue | None:
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
        with pil_open(handle) as img:
            if not is_wide_tiff(img):
                if problem := over_pixel_limit(*img.size):
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
        return "too large", bomb_text(exc)
    except Exception as exc:  # Pillow reports corrupt files as OSError, SyntaxError, struct.error, ...: all unreadable
        if magic not in TIFF_MAGIC:
            return "unreadable", str(exc)
    try:
        handle.seek(0)
        with import_tifffile("").TiffFile(handle) as tif:
            series = tif.series[0]
            if problem := over_pixel_limit(*series_extent(series)):
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
        with pil_open(handle) as img:
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


def issue_text(issue: _ImageIssue, path: str | None = None) -> str:
    kind, detail = issue
    if not kind:
        return f"{path}: {detail}" if path else detail
    return f"image {kind}: {path} ({detail})" if path else f"image {kind} ({detail})"


def image_problem(path: str, *, decode: bool = False) -> str | None:
    """None if the image file is usable, else why not, naming the file (see `encoded_problem`)."""
    try:
        with open(path, "rb") as handle:
            issue = encoded_problem(handle, decode=decode)
    except OSError as exc:
        return f"image unreadable: {path} ({exc.strerror or exc})"
    return issue_text(issue, path) if issue else None


def inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


class MediaResolver:
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
        if is_url(name):
            return name, None
        if os.path.isabs(name) or (self.as_given_first and os.path.exists(name)):
            path = os.path.abspath(name)
        elif self.folder is None:
            path = os.path.abspath(name)
            if self.check_exists:
                return path, f"{'image' if is_image else 'video'} not found: {name!r} (relative path, no image folder)"
        else:
            path = os.path.normpath(os.path.join(self.folder, name))
            if not inside(path, self.folder):
                return path, f"path {name!r} escapes image folder {self.folder}"
        if self.check_exists and not os.path.isfile(path):
            return path, f"{'image' if is_image else 'video'} not found: {path}"
        if self.check_header and is_image:
            return path, image_problem(path, decode=self.decode)
        return path, None
