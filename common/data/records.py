"""The record type every reader returns, its problems, and the loop that reads a file under a policy."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image
from tqdm import tqdm

logger = logging.getLogger(__name__)

Policy = Literal["error", "skip"]
# What a stage's `data_policy` may be (sft and grpo configs): the readers' policies.
DATA_POLICIES = ("error", "skip")

# Inputs at least this long get a progress bar while they are read (VHM pretraining has ~1M records).
PROGRESS_MIN_RECORDS = 5000

# The skip policy's one warning per file. The validator, which prints every problem itself, filters it out.
SKIPPED = "%s: skipped %d of %d records (policy skip); first: %s"


def where(file: str, number: int | None, record_id: str | None, message: str) -> str:
    """`FILE: record N (id 'X'): message`, the one way every reader and loader names a place; `FILE: message` for a
    file-level problem, no `(id ...)` where the record has no id of its own."""
    if number is None:
        return f"{file}: {message}"
    named = "" if record_id is None else f" (id {record_id!r})"
    return f"{file}: record {number}{named}: {message}"


class DataError(ValueError):
    """Bad input data: `str(e)` is `FILE: record N (id 'X'): message` (`FILE: message` for a file-level problem).

    `index` is the record's index as its reader counts (`Record.index`); `number` is the 1-based number shown,
    `index` where not given (callers whose index is already a 1-based line number)."""

    def __init__(
        self,
        file: str | os.PathLike,
        index: int | None,
        message: str,
        *,
        number: int | None = None,
        record_id: str | None = None,
    ):
        self.file = str(file)
        self.index = index
        self.message = message
        self.number = index if number is None else number
        self.record_id = record_id
        super().__init__(where(self.file, self.number, record_id, message))

    @classmethod
    def of(cls, record: Record, message: str) -> DataError:
        """A problem that a loader finds in a record already read, named as the readers name theirs."""
        return cls(record.source, record.index, message, number=record.number, record_id=record.own_id)


@dataclass
class Problem:
    file: str
    index: int | None  # Record.index of the bad record
    message: str
    # How the message shows the record (1-based number, index where None; its own id where it has one): derived
    # from the record, so not part of a problem's identity.
    number: int | None = field(default=None, compare=False)
    record_id: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return where(self.file, self.index if self.number is None else self.number, self.record_id, self.message)


@dataclass
class Turn:
    role: str  # "system" | "user" | "assistant"
    content: str  # keeps "<image>" / "<video>" placeholders


@dataclass
class Record:
    id: str  # the record's own id, or one its reader makes up (see own_id)
    source: str  # the file (or folder / dataset) the record came from
    index: int  # see the package docstring
    turns: list[Turn]
    images: list[str | Image.Image]  # absolute paths, URLs or lazily opened in-memory images; [] = text-only
    videos: list[str] = field(default_factory=list)
    solution: Any = None  # reference answer (GRPO / eval); None for SFT records
    task: str | None = None
    extra: dict = field(default_factory=dict)  # the record's remaining fields
    # As shown to a user, 1-based (set by the reader; see the package docstring): derived from index, not compared.
    number: int | None = field(default=None, compare=False)
    given_id: bool = True  # False when the data has no id and `id` was made up from the index

    @property
    def own_id(self) -> str | None:
        return self.id if self.given_id else None

    def describe(self, message: str) -> str:
        """`message` placed as a DataError about this record places it."""
        return where(self.source, self.index if self.number is None else self.number, self.own_id, message)


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
Parser = Callable[[Any, int, list[str]], "Record | None"]


def unknown_name(key: str, value: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {key} {value!r}{hint}; known: {', '.join(known)}"


def check_policy(policy: str) -> None:
    if policy not in DATA_POLICIES:
        raise ValueError(f"policy must be one of {DATA_POLICIES}, got {policy!r}")


def collect(
    source: str,
    entries: Iterable[tuple[int, Any]],
    total: int,
    parse: Parser,
    policy: Policy,
    *,
    lines: bool = False,
    record_id: Callable[[Any], str | None] | None = None,
    ignored: list[str] | None = None,
    empty_hint: str = "",
) -> ReadResult:
    """Parse every (index, raw) entry under `policy`. `lines`: the indices are 1-based line numbers, shown as they
    are (else positions, shown + 1). `record_id(raw)`: a bad record's own id, for its message."""
    if total == 0:
        # An empty dataset is a mistake (a wrong path, a failed download), never a clean result.
        raise DataError(source, None, f"no records{empty_hint}")
    records: list[Record] = []
    problems: list[Problem] = []
    progress = tqdm(entries, total=total, desc=f"reading {source}", unit="rec", disable=total < PROGRESS_MIN_RECORDS)
    for index, raw in progress:
        errors: list[str] = []
        record = parse(raw, index, errors)
        number = index if lines else index + 1
        if not errors:
            record.number = number
            records.append(record)
            continue
        message = "; ".join(errors)
        own_id = record_id(raw) if record_id else None
        if policy == "error":
            raise DataError(source, index, message, number=number, record_id=own_id)
        problems.append(Problem(source, index, message, number, own_id))
    if problems:
        logger.warning(SKIPPED, source, len(problems), total, problems[0])
    return ReadResult(records, problems, total, ignored or [])


@dataclass(frozen=True)
class Target:
    """What `python -m common.data validate` was asked to check."""

    path: str
    image_folder: str | None
    split: str | None
    decode: bool  # decode every image in full (unless --header-only)


@dataclass(frozen=True)
class Format:
    """An upstream data format: its reader and how the validator reads with it (common.data.formats registers it)."""

    read: Callable[..., ReadResult]  # READERS[name]
    validate: Callable[[Target], ReadResult]  # the reader under policy skip, with every check the format has
    path: str  # what PATH is, for --help
    image_folder: str = ""  # what --image-folder means for this format, for --help; "" = it takes none
    split: str = ""  # what --split means, likewise
    hub: bool = False  # PATH may be a Hub dataset id, not on disk
