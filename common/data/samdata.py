"""The SAMData test folder (SPEC 2.5): images whose file name starts with their category."""

from __future__ import annotations

import logging
import os

from common.prompts import SAMDATA_PROMPT
from common.vocabulary import SAMDATA_CATEGORIES

from .image_checks import image_problem
from .records import DataError, Format, Policy, ReadResult, Record, Target, Turn, check_policy, collect
from .turns import IMAGE_TOKEN

logger = logging.getLogger(__name__)

SAMDATA_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_samdata_test(
    folder: str | os.PathLike, *, policy: Policy = "error", decode_images: bool = False
) -> ReadResult:
    """Images `*.jpg|*.jpeg|*.png` (any case) named `<category>...`, sorted by name; `solution` = category
    ("0" positive easy, "1" positive hard, "2" negative). Every other entry is not a sample: listed in `ignored`,
    not an error. Turns: the SAMData evaluation prompt (SPEC 6.1) after the image.
    """
    check_policy(policy)
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
        if problem := image_problem(path, decode=decode_images):
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
    return collect(
        source, enumerate(samples), len(samples), parse, policy, record_id=str, ignored=ignored, empty_hint=hint
    )


def _validate(target: Target) -> ReadResult:
    return read_samdata_test(target.path, policy="skip", decode_images=target.decode)


FORMAT = Format(read_samdata_test, _validate, path="SAMData test folder")
