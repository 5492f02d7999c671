"""`python -m common.data validate --format FORMAT PATH [--image-folder DIR] [--split S] [--header-only]`.

Prints one line per bad record (`FILE: record N (id 'X'): message`, as every reader and loader names records) and a
summary; exits 0 when every record is good, 1 when any record (or the file) is bad, 2 on a usage error, and never
shows a traceback for bad data.
"""

from __future__ import annotations

import argparse
import logging
import os

from . import records
from .formats import FORMATS
from .records import DataError, Target


def _emit(line: str) -> None:
    print(line)  # noqa: T201 - CLI output


def _per_format(attribute: str) -> str:
    """`name: meaning; ...` of the formats that take an option, for its --help."""
    return "; ".join(
        f"{name}: {getattr(spec, attribute)}" for name, spec in FORMATS.items() if getattr(spec, attribute)
    )


def _drop_skip_summary(entry: logging.LogRecord) -> bool:
    # The validator prints every problem and the counts: the readers' skip warning would say each bad file twice.
    return entry.msg != records.SKIPPED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.data", description="Check data in an upstream format.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser(
        "validate",
        help="print one line per bad record and a summary; exit 1 if any record is bad",
        description="Validate PATH in FORMAT: one line per bad record, then a summary. Exit 0 if all records are "
        "good, 1 if any record (or the file itself) is bad, 2 on a usage error.",
    )
    validate.add_argument("--format", required=True, choices=sorted(FORMATS), dest="fmt")
    validate.add_argument("path", metavar="PATH", help=_per_format("path"))
    validate.add_argument("--image-folder", metavar="DIR", help=_per_format("image_folder"))
    validate.add_argument("--split", default=None, help=_per_format("split"))
    validate.add_argument(
        "--header-only",
        action="store_true",
        help="check image headers only (as training does at start-up) instead of decoding every image in full; "
        "faster, but misses damage that only decoding shows",
    )
    args = parser.parse_args(argv)
    spec = FORMATS[args.fmt]

    if args.image_folder is not None and not spec.image_folder:
        parser.error(f"--image-folder does not apply to --format {args.fmt}")
    if args.image_folder is not None and not os.path.isdir(args.image_folder):
        parser.error(f"--image-folder {args.image_folder}: no such folder")
    # A PATH that is not on disk may be a Hub id where the format reads from the Hub; every other PATH must exist.
    if not spec.hub and not os.path.exists(args.path):
        parser.error(f"PATH {args.path}: no such file or folder")

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    records.logger.addFilter(_drop_skip_summary)
    try:
        result = spec.validate(Target(args.path, args.image_folder, args.split, decode=not args.header_only))
    except DataError as exc:
        _emit(str(exc))
        _emit(f"validated 0 records: the file itself is bad (format {args.fmt})")
        return 1
    finally:
        records.logger.removeFilter(_drop_skip_summary)
    for problem in result.problems:
        _emit(str(problem))
    _emit(f"validated {result.summary()} (format {args.fmt})")
    return 1 if result.problems else 0
