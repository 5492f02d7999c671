"""Image decoding: `load_image`, the one image loader, and the pixel limit every decoder checks from the header.

`load_image` always returns an 8-bit RGB image, converting the kinds that remote sensing produces (16-bit, float,
RGBA, palette, grayscale, CMYK, multi-band TIFF) by the rules in its docstring.
"""

from __future__ import annotations

import io
import logging
import os
import re
import urllib.request
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from .records import DataError

logger = logging.getLogger(__name__)

# One pixel limit for every image decoder (Pillow and tifffile), checked from the header before any pixel is decoded,
# in validation and in load_image. The value is Pillow's own default threshold (Image.MAX_IMAGE_PIXELS, ~9459^2):
# Qwen2-VL resizes every image to at most 12.8 MP anyway, and a small file declaring a huge size would otherwise
# allocate gigabytes (a 1.3 MiB 15000x15000x3 uint16 TIFF: 2.7 GB as float32). Change it here for larger inputs.
MAX_IMAGE_PIXELS = 89_478_485

# Linear stretch of >8-bit data between these per-image percentiles (see load_image).
STRETCH_PERCENTILES = (2.0, 98.0)

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def is_wide_tiff(img: Image.Image) -> bool:
    """A multi-sample TIFF with more than 8 bits per sample: Pillow keeps only the high byte of each sample."""
    if img.format != "TIFF":
        return False
    tags = getattr(img, "tag_v2", {})
    bits = tags.get(258, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    return tags.get(277, 1) > 1 and max(bits) > 8


def import_tifffile(name: str):
    try:
        import tifffile
    except ImportError as exc:
        raise DataError(
            name,
            None,
            "this TIFF (multi-band or over 8 bits per band) needs the tifffile package: pip install tifffile",
        ) from exc
    return tifffile


def over_pixel_limit(width: int, height: int, planes: int = 1) -> str | None:
    """Why an image of this extent is refused (MAX_IMAGE_PIXELS), or None."""
    pixels = width * height * planes
    if pixels <= MAX_IMAGE_PIXELS:
        return None
    extent = f"{width}x{height}" + (f"x{planes} planes" if planes > 1 else "")
    return f"{extent} is {pixels:,} pixels, over the limit of {MAX_IMAGE_PIXELS:,}: a decompression bomb?"


def bomb_text(error: Exception) -> str:
    """Pillow's DecompressionBombError (raised by Image.open above twice its own limit) in the words of over_pixel_limit."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    pixels = f"{int(found.group(1)):,} pixels" if found else "the image"
    return f"{pixels} is over the limit of {MAX_IMAGE_PIXELS:,}: a decompression bomb?"


def pil_open(source: BinaryIO) -> Image.Image:
    """Image.open without Pillow's DecompressionBombWarning: the limit is MAX_IMAGE_PIXELS, checked by the callers
    (Pillow itself still raises DecompressionBombError above twice its own limit, which they report alike)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(source)


def series_extent(series: Any) -> tuple[int, int, int]:
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
    tifffile = import_tifffile(name)
    try:
        with tifffile.TiffFile(source) as tif:
            series = tif.series[0]
            # The pixel limit before decoding: tifffile has no guard of its own.
            too_large = over_pixel_limit(*series_extent(series))
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
        if too_large := over_pixel_limit(*src.size):
            raise DataError("<image>", None, f"image too large ({too_large})")
        return _pil_to_rgb(src)
    if isinstance(src, bytes):
        name, data = "<image bytes>", src
    elif is_url(str(src)):
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
        img = pil_open(io.BytesIO(data))
        too_large = None if is_wide_tiff(img) else over_pixel_limit(*img.size)
        if too_large is None and not is_wide_tiff(img):
            img.load()
            return _pil_to_rgb(img)
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit, which is MAX_IMAGE_PIXELS
        raise DataError(name, None, f"image too large ({bomb_text(exc)})") from None
    except Exception as exc:  # Pillow reports corrupt / unsupported files with many exception types
        if data[:4] not in TIFF_MAGIC:
            raise DataError(name, None, f"unreadable image ({exc})") from exc
        too_large = None
    if too_large:
        raise DataError(name, None, f"image too large ({too_large})")
    return _array_to_rgb(_tiff_array(io.BytesIO(data), name))


class MidRunDataError(DataError):
    """A record that fails while training runs: its image decodes only partly (damage past an intact header, which
    validation reads without decoding the pixels).

    torch's DataLoader re-raises a worker's exception in the main process as `type(text)`, text being "Caught ... in
    DataLoader worker process N. Original Traceback ...". DataError has no one-argument form, so torch would raise a
    RuntimeError carrying the whole traceback; this subclass takes that one argument and keeps the error's own
    one-line text (the traceback's last line), so the entry points still end with one line naming file and record.
    """

    def __init__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs:
            last = str(args[0]).rstrip().splitlines()[-1]
            text = last.split(f"{type(self).__name__}: ", 1)[-1]
            ValueError.__init__(self, text)
            self.file, self.index, self.number, self.record_id, self.message = "", None, None, None, text
            return
        super().__init__(*args, **kwargs)


class MidRunSkips:
    """What a stage's dataset does with a record that fails to load during training, by data_policy: `error` ends
    the run with one line (MidRunDataError), `skip` logs the record with the count so far and the dataset serves
    another. Counts are per process (each DataLoader worker counts its own)."""

    def __init__(self, policy: str):
        self.policy = policy
        self.count = 0

    def failed(self, error: DataError) -> None:
        """Raises under `error`; under `skip` counts and logs, and the caller goes on to another record."""
        if self.policy != "skip":
            if isinstance(error, MidRunDataError):
                raise error
            raise MidRunDataError(
                error.file, error.index, error.message, number=error.number, record_id=error.record_id
            )
        self.count += 1
        logger.warning(
            "skipped a record during training (data_policy skip, %d so far in this process): %s", self.count, error
        )
