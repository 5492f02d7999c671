"""Readers for every upstream data format (SPEC 2.1-2.6) into one `Record` type, validating as they read.

One module per format, each with its reader and its `FORMAT` (registered in `formats.FORMATS`, whose readers are
`READERS`): `llava` (SFT JSON, 2.1), `imagefolder` (SAMChat GRPO, 2.2), `tinyrs_grpo` (save_to_disk DatasetDict or
Hub id, 2.3, module tinyrs), `jsonl` (VLM-R1 multi-task GRPO, 2.4), `samdata_test` (2.5, module samdata), `scorers`
(ScoreRS suite, 2.6) and `earthdial` (EarthDial-Bench and training arrow shards, EARTHDIAL.md 3). Beside them:
records (the record type, problems, the read loop), images (`load_image`), image_checks, jsonio, turns, and cli
(`python -m common.data validate`). The task names are common.vocabulary's. Every public name, the vocabulary's
included, is importable from `common.data`.

Conventions every reader follows:

- Record index (`Record.index`, `Problem.index`): the position in a JSON array, dataset or folder (0-based), or the
  line number in a JSONL file. Messages number records from 1, as a user counts them: the JSONL line number, else
  the position + 1 (`Record.number`), with the record's own id where it has one: `FILE: record N (id 'X'): message`
  (`FILE: record N: message` without an id; `FILE: message` for a file-level problem). The loaders of the stages
  name the records they refuse the same way (`DataError.of`), and so does `eval.score` (line numbers).
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
  structure (`image_checks.encoded_problem`). `decode_images=True` (the validator's default) decodes every image in
  full. Progress bars appear for inputs of `PROGRESS_MIN_RECORDS` records or more.

`load_image` is the one image loader: it always returns an 8-bit RGB image (see common.data.images).

CLI: `python -m common.data validate --format FORMAT PATH [--image-folder DIR]` prints one line per bad record and
a summary, exits 1 if any record (or the file) is bad, 2 on a usage error, and never shows a traceback for bad data.
"""

from common.vocabulary import (
    EARTHDIAL_GRPO_TASKS,
    GEOVLM_TASKS,
    GRPO_TASKS,
    LHRS_CATEGORIES,
    LHRS_CATEGORY_NAMES,
    SAMDATA_CATEGORIES,
    SCORERS_TASKS,
    TINYRS_TASKS,
)

from .cli import main
from .earthdial import (
    EARTHDIAL_BOX_TAG,
    EARTHDIAL_IMAGE_COLUMNS,
    EARTHDIAL_JSON_LIST_COLUMNS,
    EARTHDIAL_REFERENCE_COLUMNS,
    EARTHDIAL_SIZE_GROUPS,
    load_earthdial_shard,
    read_earthdial,
)
from .formats import FORMATS, READERS
from .imagefolder import read_imagefolder, samchat_record
from .images import MAX_IMAGE_PIXELS, STRETCH_PERCENTILES, load_image
from .jsonl import jsonl_record, read_jsonl
from .llava import read_llava
from .records import DATA_POLICIES, PROGRESS_MIN_RECORDS, DataError, Policy, Problem, ReadResult, Record, Turn
from .samdata import SAMDATA_SUFFIXES, read_samdata_test
from .scorers import read_scorers
from .tinyrs import check_tinyrs_solution, read_tinyrs_grpo, tinyrs_fields
from .turns import IMAGE_TOKEN, ROLE_MAP, VIDEO_TOKEN

__all__ = [
    "DATA_POLICIES",
    "EARTHDIAL_BOX_TAG",
    "EARTHDIAL_GRPO_TASKS",
    "EARTHDIAL_IMAGE_COLUMNS",
    "EARTHDIAL_JSON_LIST_COLUMNS",
    "EARTHDIAL_REFERENCE_COLUMNS",
    "EARTHDIAL_SIZE_GROUPS",
    "FORMATS",
    "GEOVLM_TASKS",
    "GRPO_TASKS",
    "IMAGE_TOKEN",
    "LHRS_CATEGORIES",
    "LHRS_CATEGORY_NAMES",
    "MAX_IMAGE_PIXELS",
    "PROGRESS_MIN_RECORDS",
    "READERS",
    "ROLE_MAP",
    "SAMDATA_CATEGORIES",
    "SAMDATA_SUFFIXES",
    "SCORERS_TASKS",
    "STRETCH_PERCENTILES",
    "TINYRS_TASKS",
    "VIDEO_TOKEN",
    "DataError",
    "Policy",
    "Problem",
    "ReadResult",
    "Record",
    "Turn",
    "check_tinyrs_solution",
    "jsonl_record",
    "load_earthdial_shard",
    "load_image",
    "main",
    "read_earthdial",
    "read_imagefolder",
    "read_jsonl",
    "read_llava",
    "read_samdata_test",
    "read_scorers",
    "read_tinyrs_grpo",
    "samchat_record",
    "tinyrs_fields",
]
