"""GRPO data: the upstream formats (SPEC 2.2-2.4, EARTHDIAL.md 3) into the columns `trl.GRPOTrainer` and the rewards
read.

Every format is read and validated by common.data (bad records named by file and record, or counted under
`data_policy: skip`), then mapped to one row per record:

| column | what |
|---|---|
| prompt | [system?, user] messages with string content; TRL puts the row's images before the user text |
| images | the record's images, decoded lazily per access to RGB (common.data.load_image) |
| solution, task, reward_method, question | ground truth, task name, per-record reward rule, bare question |
| image_size, input_size | [w, h] of the first image as stored and as resized for the model (box frames) |
| references, obj_ids | EarthDial shards only: every reference caption (1 or 5) and the grounding boxes (or None) |
| upstream_solution | TinyRS only: the stored `solution` list (answer_type, answer, question, image_base64) |

EarthDial shards (`earthdial`, one or more save_to_disk folders, comma-separated, each with its task from
`dataset_tasks`) keep every image of a row, in the order jpg, jpg_A..jpg_D: 2 or 4 per prompt for the temporal
sets. The user text is the shard's question with its `<image>` placeholders removed (TRL puts the row's images
before the text), tags and the literal `\\n` kept; the system prompt defaults to GeoVLM-R1's (ours,
common.prompts.GEOVLM_R1_SYSTEM), which asks for the think / answer layout and the 0-100 boxes.

Images stay on disk (or in the TinyRS Arrow files) until a batch needs them: `datasets` holds only paths or the
memory-mapped bytes, and a transform decodes them on access, so a large dataset costs no RAM up front.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import datasets
from qwen_vl_utils import smart_resize

from common.data import (
    EARTHDIAL_IMAGE_COLUMNS,
    DataError,
    Record,
    check_tinyrs_solution,
    jsonl_record,
    load_earthdial_shard,
    load_image,
    read_earthdial,
    read_imagefolder,
    read_jsonl,
    read_tinyrs_grpo,
    samchat_record,
    tinyrs_fields,
)
from common.data.images import MidRunDataError, MidRunSkips
from common.prompts import GEOVLM_R1_SYSTEM
from grpo.configs import JSONL_QUESTION_TEMPLATE, GRPOScriptArguments
from grpo.rewards import TASKS
from grpo.rewards.geovlm import GEOVLM_TASKS

logger = logging.getLogger(__name__)

OPEN_ENDED = "open_ended"
UPSTREAM_SOLUTION = "upstream_solution"  # TinyRS rows: the stored solution list, for the upstream judge request
_PLACEHOLDER = re.compile(r"<image>|<video>")
_MEDIA = datasets.Sequence(datasets.Image(decode=False))


def _saved_columns(folder: str) -> list[str]:
    """Column names of a save_to_disk folder from its metadata (the first split of a DatasetDict); [] if unknown."""
    info = os.path.join(folder, "dataset_info.json")
    splits = os.path.join(folder, "dataset_dict.json")
    try:
        if os.path.isfile(splits):
            with open(splits, encoding="utf-8") as handle:
                info = os.path.join(folder, json.load(handle)["splits"][0], "dataset_info.json")
        with open(info, encoding="utf-8") as handle:
            return list(json.load(handle).get("features") or {})
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []


def detect_format(path: str) -> str:
    """imagefolder: a folder with metadata.jsonl; jsonl: *.jsonl files; earthdial: a save_to_disk folder with a
    `question` and an EarthDial image column; tinyrs_grpo: any other save_to_disk folder or anything else (a Hub
    id)."""
    first = path.split(",")[0].strip()
    if first.endswith(".jsonl"):
        return "jsonl"
    if os.path.isdir(first):
        if os.path.isfile(os.path.join(first, "metadata.jsonl")):
            return "imagefolder"
        if any(os.path.isfile(os.path.join(first, name)) for name in ("dataset_dict.json", "state.json")):
            columns = _saved_columns(first)
            if "question" in columns and any(name in columns for name in EARTHDIAL_IMAGE_COLUMNS):
                return "earthdial"
            return "tinyrs_grpo"
        raise DataError(first, None, "cannot tell the GRPO format: no metadata.jsonl, dataset_dict.json or state.json")
    if os.path.exists(first):
        raise DataError(first, None, "cannot tell the GRPO format of this file: give --dataset_format")
    return "tinyrs_grpo"


def turn_question_text(turn_content: str, *, strip: bool = False) -> str:
    """The user turn without its image / video placeholders (TRL puts the images before the text).

    Not stripped by default: SAMChat and TinyRS questions are used exactly as stored, leading and trailing spaces
    included, as upstream's trainer rendered them (SPEC 4). strip=True for VLM-R1 JSONL questions, whose
    `<image>\\n` prefix would otherwise leave a newline in front of the template.
    """
    text = _PLACEHOLDER.sub("", turn_content)
    return text.strip() if strip else text


def _per_file(values: Sequence[str], files: Sequence[str], what: str) -> list[str | None]:
    if not values:
        return [None] * len(files)
    if len(values) == 1:
        return list(values) * len(files)
    if len(values) != len(files):
        raise ValueError(f"{what}: give one value, or one per dataset file ({len(files)}), got {len(values)}")
    return list(values)


def _earthdial_split(path: str, split: str) -> str | None:
    # dataset_split names the split of a DatasetDict shard; a plain Dataset shard has none.
    return split if os.path.isfile(os.path.join(path, "dataset_dict.json")) else None


def read_records(args: GRPOScriptArguments) -> tuple[str, list[Record]]:
    """Reads and validates the dataset; returns (format, records). JSONL records get their file's task when they
    have none."""
    if not args.dataset_name:
        raise ValueError("dataset_name is required (a GRPO imagefolder, TinyRS dataset or JSONL files)")
    fmt = args.dataset_format if args.dataset_format != "auto" else detect_format(args.dataset_name)
    if fmt == "imagefolder":
        results = [read_imagefolder(args.dataset_name, policy=args.data_policy)]
    elif fmt == "tinyrs_grpo":
        results = [read_tinyrs_grpo(args.dataset_name, args.dataset_split, policy=args.data_policy)]
    elif fmt == "earthdial":
        shards = args.dataset_files
        tasks = _per_file(args.file_tasks, shards, "dataset_tasks")
        results = []
        for path, task in zip(shards, tasks, strict=True):
            if task is None:
                raise DataError(path, None, "an EarthDial shard needs its task: give --dataset_tasks")
            result = read_earthdial(path, split=_earthdial_split(path, args.dataset_split), policy=args.data_policy)
            for record in result.records:
                record.task = task
            results.append(result)
    else:
        files = args.dataset_files
        folders = _per_file(args.image_folders, files, "image_folder")
        tasks = _per_file(args.file_tasks, files, "dataset_tasks")
        results = []
        for path, folder, task in zip(files, folders, tasks, strict=True):
            # A misspelled task or accu_reward_method would match no reward and train without accuracy, silently.
            result = read_jsonl(path, folder, policy=args.data_policy, tasks=TASKS, reward_methods=GEOVLM_TASKS)
            for record in result.records:
                record.task = record.task or task
                if record.task is None:
                    raise DataError.of(record, "no 'task' field and no --dataset_tasks for this file")
            results.append(result)
    records = [record for result in results for record in result.records]
    for result in results:
        logger.info("%s", result.summary())
    return fmt, records


def _question(record: Record, fmt: str) -> str:
    users = [turn for turn in record.turns if turn.role == "user"]
    return record.extra.get("question") or (turn_question_text(users[0].content, strip=fmt == "jsonl") if users else "")


def reward_columns(record: Record, fmt: str) -> dict[str, Any]:
    """The columns the rewards read of one record: solution, task, reward_method, question. A five-reference
    EarthDial row's solution is its first reference (the `references` column holds all five)."""
    solution = record.solution[0] if isinstance(record.solution, list) else record.solution
    return {
        "solution": str(solution),
        "task": record.task,
        "reward_method": record.extra.get("accu_reward_method"),
        "question": _question(record, fmt),
    }


def record_from_row(raw: Any, index: int = 0, source: str = "<row>") -> tuple[str, Record]:
    """One row of any of the three GRPO datasets, as stored upstream, as a record without images (for
    `python -m grpo.rewards`): a TinyRS row (`solution` a list [answer_type, answer, question, image_base64]), a
    SAMChat metadata.jsonl row (`file_name`, `question`, `solution`) or a VLM-R1 JSONL row (`conversations`). The
    readers' own per-record mappings (common.data) do the work; DataError names what is wrong."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise DataError(source, index, f"a row is a JSON object, got {type(raw).__name__}")
    if isinstance(raw.get("solution"), list):
        fmt = "tinyrs_grpo"
        errors = check_tinyrs_solution(raw["solution"])
        question = raw.get("question")
        if question is not None and not isinstance(question, str):
            errors.append("'question' must be a string")
        record = None
        if not errors:
            fields = tinyrs_fields(raw["solution"], question)
            record = Record(id=str(raw.get("id", index)), source=source, index=index, turns=[], images=[], **fields)
    elif "conversations" in raw:
        fmt = "jsonl"
        record = jsonl_record(raw, index, errors, source=source)
    elif "file_name" in raw:
        fmt = "imagefolder"
        record = samchat_record(raw, index, errors, source=source)
    else:
        raise DataError(source, index, "not a GRPO dataset row (no list 'solution', 'conversations' or 'file_name')")
    if errors or record is None:
        raise DataError(source, index, "; ".join(errors) or "bad row")
    return fmt, record


def _messages(record: Record, fmt: str, args: GRPOScriptArguments) -> tuple[list[dict], str]:
    system = [turn.content for turn in record.turns if turn.role == "system"]
    users = [turn for turn in record.turns if turn.role == "user"]
    if len(users) != 1 or any(turn.role == "assistant" for turn in record.turns):
        raise DataError.of(record, "a GRPO prompt must be one user turn (plus a system turn)")
    strip = fmt == "jsonl"
    question = _question(record, fmt)
    # EarthDial rows keep the shard's question as their text: GeoVLM-R1's system prompt asks for the think / answer
    # layout, so the prompt stays what the shard (and EarthDial-Bench) poses.
    template = args.question_template or (JSONL_QUESTION_TEMPLATE if fmt == "jsonl" else None)
    if template is None:
        text = turn_question_text(users[0].content, strip=strip)
    else:
        text = template.format(question=question, think_tag=args.think_tag, answer_tag=args.answer_tag)
    if args.system_prompt is not None:
        system = [args.system_prompt]
    elif fmt == "earthdial":
        system = [GEOVLM_R1_SYSTEM]
    messages = [{"role": "system", "content": content} for content in system]
    messages.append({"role": "user", "content": text})
    return messages, question


def _media(image: Any) -> dict:
    if isinstance(image, (str, os.PathLike)):
        return {"path": str(image), "bytes": None}
    raise TypeError(f"unexpected in-memory image {type(image).__name__}")


def rows(records: Sequence[Record], fmt: str, args: GRPOScriptArguments) -> dict[str, list]:
    """Column-wise rows of the records (images as paths, except TinyRS whose images stay in its Arrow files)."""
    columns: dict[str, list] = {
        name: []
        for name in ("prompt", "solution", "task", "reward_method", "question", "_source_index", "_where", "_row")
    }
    if fmt != "tinyrs_grpo":
        columns["_media"] = []
    if fmt == "earthdial":
        columns["references"], columns["obj_ids"] = [], []
    for record in records:
        messages, _ = _messages(record, fmt, args)
        columns["prompt"].append(messages)
        for name, value in reward_columns(record, fmt).items():
            columns[name].append(value)
        columns["_source_index"].append(record.index)
        columns["_where"].append(record.describe(""))  # names the record when its image fails mid-run
        columns["_row"].append(len(columns["_row"]))
        if fmt == "earthdial":
            references = record.solution if isinstance(record.solution, list) else [record.solution]
            columns["references"].append([str(reference) for reference in references])
            columns["obj_ids"].append(record.extra.get("obj_ids"))
        elif fmt != "tinyrs_grpo":
            columns["_media"].append([_media(image) for image in record.images])
    if fmt == "earthdial":
        columns["_media"] = _earthdial_media(records)
    return columns


def _earthdial_media(records: Sequence[Record]) -> list[list[dict]]:
    """The encoded images of each record, in its column order, read again from its shard (memory-mapped bytes), so
    the dataset carries bytes rather than the readers' open images."""
    by_shard: dict[str, list[int]] = {}
    for record in records:
        by_shard.setdefault(record.source, []).append(record.index)
    media: dict[tuple[str, int], list[dict]] = {}
    for source, indices in by_shard.items():
        dataset, _, image_columns = load_earthdial_shard(source)
        for index, row in zip(indices, dataset.select(indices).select_columns(image_columns)):
            media[(source, index)] = [{"bytes": row[c]["bytes"], "path": row[c]["path"]} for c in image_columns]
    return [media[(record.source, record.index)] for record in records]


@dataclass
class ImageSizer:
    """The resize Qwen2-VL's processor applies (qwen-vl-utils' smart_resize with the processor's limits), so the
    rewards can map boxes given in the model's input frame (Qwen2.5-VL) back to the image."""

    factor: int
    min_pixels: int
    max_pixels: int

    @classmethod
    def from_processor(cls, processor: Any) -> ImageSizer:
        image_processor = processor.image_processor
        size = image_processor.size
        return cls(
            factor=image_processor.patch_size * image_processor.merge_size,
            min_pixels=size["shortest_edge"],
            max_pixels=size["longest_edge"],
        )

    def input_size(self, width: int, height: int) -> list[int]:
        resized_h, resized_w = smart_resize(
            height, width, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )
        return [resized_w, resized_h]


class DecodeImages:
    """datasets transform: encoded images -> RGB PIL images plus their stored and model-input sizes.

    An image can pass validation (header and structure) and still fail to decode in full. Under data_policy skip
    the next row that decodes stands in for the row (`rows`: the dataset without this transform), counted
    (MidRunSkips); under error, one line naming file and record (`_where`)."""

    def __init__(self, sizer: ImageSizer, media_column: str, single: bool, policy: str = "error"):
        self.sizer = sizer
        self.media_column = media_column
        self.single = single
        self.skips = MidRunSkips(policy)
        self.rows: datasets.Dataset | None = None

    def _decode(self, media: Any, where: str) -> list[Any]:
        try:
            return [load_image(item["bytes"] or item["path"]) for item in ([media] if self.single else media)]
        except DataError as error:
            self.skips.failed(MidRunDataError(f"{where}{error.file}: {error.message}"))
            return []

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        out = {key: list(value) for key, value in batch.items() if key != self.media_column}
        out["images"], out["image_size"], out["input_size"] = [], [], []
        for position, media in enumerate(batch[self.media_column]):
            images = self._decode(media, batch["_where"][position])
            row = batch["_row"][position]
            while not images:  # skipped: the next row stands in, every column of it
                row = (row + 1) % len(self.rows)
                if row == batch["_row"][position]:
                    raise MidRunDataError(f"{batch['_where'][position]}no row of this dataset decodes")
                stand_in = self.rows[row]
                for key in out:
                    if key in stand_in:
                        out[key][position] = stand_in[key]
                images = self._decode(stand_in[self.media_column], stand_in["_where"])
            out["images"].append(images)
            first = images[0].size if images else None
            out["image_size"].append(list(first) if first else None)
            out["input_size"].append(self.sizer.input_size(*first) if first else None)
        return out


@dataclass
class GRPOData:
    dataset: datasets.Dataset
    format: str
    tasks: Counter
    dropped_open_ended: int
    rule_tasks: Counter  # rows by the accuracy rule they ask for: reward_method, else task (grpo.rewards.rule_task)

    @property
    def has_open_ended(self) -> bool:
        return self.tasks.get(OPEN_ENDED, 0) > 0


def _tinyrs_images(args: GRPOScriptArguments, indices: list[int]) -> datasets.Dataset:
    """The source's image and solution columns of the kept rows, still memory-mapped: `_image` is decoded by the
    transform; `upstream_solution` ([answer_type, answer, question, image_base64], as stored) goes to the rewards,
    whose upstream judge request sends solution[2] and solution[3] as the released reward did (SPEC 5)."""
    if os.path.isdir(args.dataset_name):
        source = datasets.load_from_disk(args.dataset_name)
        if isinstance(source, datasets.DatasetDict):
            source = source[args.dataset_split]
    else:
        source = datasets.load_dataset(args.dataset_name, split=args.dataset_split)
    source = source.cast_column("image", datasets.Image(decode=False))
    source = source.remove_columns([name for name in source.column_names if name not in ("image", "solution")])
    source = source.rename_columns({"image": "_image", "solution": UPSTREAM_SOLUTION})
    return source.select(indices)


def build_dataset(args: GRPOScriptArguments, processor: Any) -> GRPOData:
    fmt, records = read_records(args)
    dropped = 0
    if args.judge_policy == "skip":
        kept = [record for record in records if record.task != OPEN_ENDED]
        dropped = len(records) - len(kept)
        if dropped:
            logger.warning("judge_policy skip: dropped %d open-ended rows of %d", dropped, len(records))
        records = kept
    if args.max_samples is not None:
        records = records[: args.max_samples]
    if not records:
        raise DataError(args.dataset_name, None, "no training records left")
    columns = rows(records, fmt, args)
    features = {
        "prompt": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
        "solution": datasets.Value("string"),
        "task": datasets.Value("string"),
        "reward_method": datasets.Value("string"),
        "question": datasets.Value("string"),
        "_source_index": datasets.Value("int64"),
        "_where": datasets.Value("string"),
        "_row": datasets.Value("int64"),
    }
    if fmt != "tinyrs_grpo":
        features["_media"] = _MEDIA
    if fmt == "earthdial":
        features["references"] = datasets.Sequence(datasets.Value("string"))
        features["obj_ids"] = datasets.Value("string")
    dataset = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    if fmt == "tinyrs_grpo":
        images = _tinyrs_images(args, columns["_source_index"])
        dataset = datasets.concatenate_datasets([dataset, images], axis=1)
    dataset = dataset.remove_columns("_source_index")
    media = "_image" if fmt == "tinyrs_grpo" else "_media"
    decode = DecodeImages(
        ImageSizer.from_processor(processor), media, single=fmt == "tinyrs_grpo", policy=args.data_policy
    )
    decode.rows = dataset.with_format(None)
    dataset.set_transform(decode)
    tasks = Counter(columns["task"])
    logger.info("%d GRPO rows (%s) by task: %s", len(dataset), fmt, dict(sorted(tasks.items())))
    rule_tasks = Counter(method or task for task, method in zip(columns["task"], columns["reward_method"]))
    return GRPOData(dataset=dataset, format=fmt, tasks=tasks, dropped_open_ended=dropped, rule_tasks=rule_tasks)
