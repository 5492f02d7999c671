"""Bad image files that real data holds, built in milliseconds for tests of every stage: decompression bombs (a few
bytes declaring a huge image), a JPEG cut short by a failed copy, a TIFF whose compressed strip is garbage."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def tiff_bomb(path: Path, width: int = 15000, height: int = 15000, bands: int = 3) -> Path:
    """A few-hundred-byte multi-band uint16 TIFF whose header declares width x height x bands (15000^2 x 3 uint16 is
    1.35 GB of samples, 2.7 GB as float32): a small tifffile image with its size tags rewritten."""
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros((8, 8, bands), np.uint16), photometric="rgb" if bands == 3 else "minisblack")
    data = bytearray(buffer.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = tif.pages[0].tags
        for name, value in (("ImageWidth", width), ("ImageLength", height)):
            tag = tags[name]
            fmt = "<H" if tag.dtype == 3 else "<I"  # SHORT or LONG, little-endian as tifffile writes
            data[tag.valueoffset : tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(data))
    return path


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A small PNG whose IHDR declares width x height (checksum recomputed, so the header is valid)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8  # the IHDR chunk follows the 8-byte signature: length, type, 13 bytes of data, CRC
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21])) & 0xFFFFFFFF
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def noise_jpeg(path: Path, size: tuple[int, int] = (64, 64), *, keep: float = 1.0, trailing: bytes = b"") -> Path:
    """A JPEG of random pixels (so its scan is long), its first `keep` fraction only (a copy cut short), plus
    `trailing` bytes after it (some writers append data after a whole image)."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    path.write_bytes(data[: int(len(data) * keep)] + trailing)
    return path


def corrupt_tiff(path: Path) -> Path:
    """A deflate-compressed TIFF whose header and strip table are intact but whose strip bytes are garbage: only
    decoding finds it."""
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.full((16, 16), 7, np.uint16), compression="zlib")
    data = bytearray(buffer.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        page = tif.pages[0]
        offset, count = page.dataoffsets[0], page.databytecounts[0]
    data[offset : offset + count] = b"\xff" * count
    path.write_bytes(bytes(data))
    return path


def png_cut_in_its_data(path: Path, size: tuple[int, int] = (32, 32)) -> Path:
    """A PNG of random pixels whose compressed pixel data (IDAT) is cut to half, its chunk length and checksum
    rewritten to match and IEND kept: header, chunk structure and checksums are intact (Pillow's verify() passes),
    only decoding the pixels finds the damage."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    data = buffer.getvalue()
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    kept = data[start + 8 : start + 8 + length // 2]
    chunk = struct.pack(">I", len(kept)) + b"IDAT" + kept + struct.pack(">I", zlib.crc32(b"IDAT" + kept) & 0xFFFFFFFF)
    path.write_bytes(data[:start] + chunk + data[start + 12 + length :])
    return path
