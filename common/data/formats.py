"""The registry of upstream data formats: name (the validator's `--format`) -> Format. A new format is a module
beside these with a `FORMAT`, registered here with one line (docs/EXTENDING.md)."""

from __future__ import annotations

from collections.abc import Callable

from . import earthdial, imagefolder, jsonl, llava, samdata, scorers, tinyrs
from .records import Format, ReadResult

FORMATS: dict[str, Format] = {
    "llava": llava.FORMAT,
    "imagefolder": imagefolder.FORMAT,
    "tinyrs_grpo": tinyrs.FORMAT,
    "jsonl": jsonl.FORMAT,
    "scorers": scorers.FORMAT,
    "samdata_test": samdata.FORMAT,
    "earthdial": earthdial.FORMAT,
}
READERS: dict[str, Callable[..., ReadResult]] = {name: spec.read for name, spec in FORMATS.items()}
