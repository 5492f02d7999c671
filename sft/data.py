"""SFT data: LLaVA records -> prompt text -> token ids with loss labels, and the batch collator (SPEC 2.1, 3).

Pipeline: `common.data.read_llava` validates every record (policy error | skip) -> `render` turns a record into
segments of text, each supervised or not -> `encode` runs the real processor on each segment (it loads the images,
resizes them within the configured pixel limits and expands every `<|image_pad|>` to the image's token count) and
concatenates them, labelling unsupervised tokens -100 -> `SFTCollator` pads on the right, or with `padding_free`
concatenates the batch into one row (`packed_position_ids` then gives each sample its own M-RoPE positions).

Templates (SPEC 3):
- "paper" (upstream 2U1 fork, Feb 2025; what the released SAMChat / TinyRS models saw), segments in order:
  `<|im_start|>system\\n{system}\\n<|im_end|>\\n` (not supervised; system = the record's own system turn, else
  "You are a helpful assistant."), per user turn `<|im_start|>user\\n{content}\\n<|im_end|>\\n<|im_start|>assistant\\n`
  (not supervised), per reply `{content}\\n<|im_end|>\\n` (supervised, closing tokens included).
- "official": the processor's chat template (Qwen's: no newline before `<|im_end|>`, its own default system turn);
  supervised = each reply's text plus its `<|im_end|>\\n`, the same rule as "paper"; everything else, including
  `<|im_start|>assistant\\n`, is prompt.
In both, `<image>` / `<video>` with at most one adjacent newline on each side swallowed becomes
`<|vision_start|><|image_pad|><|vision_end|>` (`<|video_pad|>` for videos). No BOS / EOS tokens are added.

Segments are tokenised separately: every boundary lies next to a special token, which the tokenizer never merges
across, so the ids equal those of the whole text (tested).

Lengths are computed before training, without decoding pixels: text tokens plus each image's token count from its
header size (the image processor's own `get_number_of_image_patches`). Videos are decoded once to count theirs.
They drive the overlong policy and length-grouped batching.

CLI (the check to run before a multi-GPU job):
    python -m sft.data preview --config configs/sft/RECIPE.yaml [--field value ...] [--n 3]
prints one JSON line per record: id, the rendered text (image tokens not expanded), and `supervised`, the exact
text of every run of supervised tokens, decoded from the labels the loss sees.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from PIL import Image
from tqdm import tqdm

from common.data import DataError, Record, Turn, load_image, read_llava
from common.data.images import MidRunDataError, MidRunSkips
from common.prompts import DEFAULT_SYSTEM

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
# SPEC 3: the placeholder with at most one adjacent newline on each side.
_PLACEHOLDERS = {
    "image": re.compile(r"\n?<image>\n?"),
    "video": re.compile(r"\n?<video>\n?"),
}
_PLACEHOLDER_SPLIT = re.compile(r"(\n?<(?:image|video)>\n?)")
# An assistant message of the official template: its header (prompt) and its text + closing tokens (supervised).
_OFFICIAL_REPLY = re.compile(rf"({re.escape(IM_START)}assistant\n)(.*?{re.escape(IM_END)}\n)", re.DOTALL)
# Records at least this many get a progress bar while their lengths are computed: tokenizing a record costs more
# than reading it, so the bar comes sooner than common.data's PROGRESS_MIN_RECORDS (reading).
MEASURE_PROGRESS_MIN_RECORDS = 2000


class Segment(NamedTuple):
    text: str
    supervised: bool


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def expand_placeholders(content: str) -> str:
    """`<image>` / `<video>` (one adjacent newline each side swallowed) -> the Qwen2-VL vision block."""
    content = _PLACEHOLDERS["image"].sub(VISION_START + IMAGE_PAD + VISION_END, content)
    return _PLACEHOLDERS["video"].sub(VISION_START + VIDEO_PAD + VISION_END, content)


def _content_items(content: str) -> list[dict]:
    """Message content for a chat template: text and image / video items in order, same newline rule."""
    items = []
    for part in _PLACEHOLDER_SPLIT.split(content):
        if not part:
            continue
        if "<image>" in part and _PLACEHOLDERS["image"].fullmatch(part):
            items.append({"type": "image"})
        elif "<video>" in part and _PLACEHOLDERS["video"].fullmatch(part):
            items.append({"type": "video"})
        else:
            items.append({"type": "text", "text": part})
    return items


def _split_system(turns: Sequence[Turn]) -> tuple[str | None, Sequence[Turn]]:
    if turns and turns[0].role == "system":
        return turns[0].content, turns[1:]
    return None, turns


def render_paper(turns: Sequence[Turn]) -> list[Segment]:
    system, turns = _split_system(turns)
    segments = [Segment(f"{IM_START}system\n{system or DEFAULT_SYSTEM}\n{IM_END}\n", False)]
    for turn in turns:
        content = expand_placeholders(turn.content)
        if turn.role == "user":
            segments.append(Segment(f"{IM_START}user\n{content}\n{IM_END}\n{IM_START}assistant\n", False))
        else:
            segments.append(Segment(f"{content}\n{IM_END}\n", True))
    return segments


def render_official(turns: Sequence[Turn], processor: Any) -> list[Segment]:
    messages = [{"role": turn.role, "content": _content_items(turn.content)} for turn in turns]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    segments, position = [], 0
    for match in _OFFICIAL_REPLY.finditer(text):
        segments.append(Segment(text[position : match.end(1)], False))
        segments.append(Segment(match.group(2), True))
        position = match.end()
    if position < len(text):
        segments.append(Segment(text[position:], False))
    return segments


def render(turns: Sequence[Turn], template: str, processor: Any = None) -> list[Segment]:
    if template == "paper":
        return render_paper(turns)
    if template == "official":
        return render_official(turns, processor)
    raise ValueError(f"unknown prompt template {template!r}; expected 'paper' or 'official'")


# ---------------------------------------------------------------------------------------------------------------
# Encoding


def load_video(path: str) -> tuple[Any, Any]:
    """Decode every frame with PyAV (torchvision's video reader is gone from the pinned version); the video
    processor then samples `video_fps` frames per second using the returned metadata."""
    from transformers.video_utils import load_video as hf_load_video

    return hf_load_video(path, backend="pyav")


def _media(record: Record) -> tuple[list[Image.Image], list[tuple[Any, Any]]]:
    images = [load_image(source) for source in record.images]
    videos = [load_video(path) for path in record.videos]
    return images, videos


def encode_segments(
    segments: Sequence[Segment], images: Sequence[Image.Image], videos: Sequence[tuple[Any, Any]], processor: Any
) -> dict[str, torch.Tensor]:
    """Process each segment with its own images / videos and concatenate: input_ids, labels, mm_token_type_ids and
    the vision inputs (pixel_values, image_grid_thw, pixel_values_videos, video_grid_thw) when present."""
    ids, labels, types = [], [], []
    vision: dict[str, list[torch.Tensor]] = {}
    next_image = next_video = 0
    for segment in segments:
        n_images, n_videos = segment.text.count(IMAGE_PAD), segment.text.count(VIDEO_PAD)
        kwargs: dict[str, Any] = {}
        if n_images:
            kwargs["images"] = list(images[next_image : next_image + n_images])
            next_image += n_images
        if n_videos:
            chunk = videos[next_video : next_video + n_videos]
            kwargs["videos"] = [frames for frames, _ in chunk]
            kwargs["video_metadata"] = [metadata for _, metadata in chunk]
            next_video += n_videos
        out = processor(text=[segment.text], return_tensors="pt", **kwargs)
        segment_ids = out["input_ids"][0]
        ids.append(segment_ids)
        labels.append(segment_ids.clone() if segment.supervised else torch.full_like(segment_ids, IGNORE_INDEX))
        types.append(out["mm_token_type_ids"][0] if "mm_token_type_ids" in out else torch.zeros_like(segment_ids))
        for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
            if key in out:
                vision.setdefault(key, []).append(out[key])
    if next_image != len(images) or next_video != len(videos):
        raise ValueError(
            f"{len(images)} image(s) / {len(videos)} video(s) but {next_image} / {next_video} placeholder(s)"
        )
    encoded = {"input_ids": torch.cat(ids), "labels": torch.cat(labels), "mm_token_type_ids": torch.cat(types)}
    encoded.update({key: torch.cat(parts) for key, parts in vision.items()})
    return encoded


def encode(record: Record, processor: Any, template: str) -> dict[str, torch.Tensor]:
    """One record -> model inputs with labels. Raises DataError naming the record when its media cannot be used."""
    try:
        images, videos = _media(record)
        return encode_segments(render(record.turns, template, processor), images, videos, processor)
    except DataError as error:
        raise DataError.of(record, f"{error.file}: {error.message}") from None
    except (OSError, ValueError, RuntimeError) as error:
        raise DataError.of(record, f"cannot encode: {error}") from error


@dataclass
class LengthInfo:
    """Token counts of one record: total, the prefix that must survive truncation (everything up to the last
    segment carrying an image or video, and the first supervised token)."""

    total: int
    keep: int


class _SizeCache:
    """Image sizes from file headers (no pixel decoding), one open per distinct path."""

    def __init__(self):
        self._sizes: dict[str, tuple[int, int]] = {}

    def __call__(self, source: str | Image.Image) -> tuple[int, int]:
        if isinstance(source, Image.Image):
            return source.size
        if source not in self._sizes:
            try:
                with Image.open(source) as image:
                    self._sizes[source] = image.size
            except Exception:  # URLs, TIFFs Pillow cannot open: fall back to the full loader
                self._sizes[source] = load_image(source).size
        return self._sizes[source]


def record_lengths(record: Record, processor: Any, template: str, sizes: _SizeCache) -> LengthInfo:
    segments = render(record.turns, template, processor)
    merge = processor.image_processor.merge_size**2
    image_tokens = []
    for source in record.images:
        width, height = sizes(source)
        image_tokens.append(processor.image_processor.get_number_of_image_patches(height, width) // merge)
    video_tokens = []
    for path in record.videos:
        # The frame count after fps sampling is only known once decoded; no paper dataset has videos.
        frames, metadata = load_video(path)
        out = processor(text=[VIDEO_PAD], videos=[frames], video_metadata=[metadata])
        video_tokens.append(len(out["input_ids"][0]))
    tokenizer = processor.tokenizer
    counts = [len(ids) for ids in tokenizer([s.text for s in segments], add_special_tokens=False)["input_ids"]]
    total = keep = 0
    first_reply_seen = False
    next_image = next_video = 0
    for segment, count in zip(segments, counts):
        n_images, n_videos = segment.text.count(IMAGE_PAD), segment.text.count(VIDEO_PAD)
        count += sum(image_tokens[next_image : next_image + n_images]) - n_images
        count += sum(video_tokens[next_video : next_video + n_videos]) - n_videos
        next_image += n_images
        next_video += n_videos
        if n_images or n_videos:
            keep = total + count
        if segment.supervised and not first_reply_seen:
            keep = max(keep, total + 1)
            first_reply_seen = True
        total += count
    return LengthInfo(total, keep)


# ---------------------------------------------------------------------------------------------------------------
# Dataset


@dataclass
class OverlongReport:
    truncated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class SFTDataset(torch.utils.data.Dataset):
    """Lazily encoded records (images load in the DataLoader workers). `lengths` holds each record's token count
    after truncation, known before training starts."""

    def __init__(
        self,
        records: list[Record],
        processor: Any,
        *,
        template: str = "paper",
        max_length: int | None = None,
        overlong_policy: str = "truncate",
        data_policy: str = "error",
    ):
        self.processor = processor
        self.skips = MidRunSkips(data_policy)
        self.template = template
        self.max_length = max_length
        sizes = _SizeCache()
        kept, lengths = [], []
        self.overlong = OverlongReport()
        progress = tqdm(
            records, desc="measuring records", unit="rec", disable=len(records) < MEASURE_PROGRESS_MIN_RECORDS
        )
        for record in progress:
            info = record_lengths(record, processor, template, sizes)
            if max_length is not None and info.total > max_length:
                where = record.describe(f"{info.total} tokens > {max_length}")
                if overlong_policy == "error":
                    raise DataError.of(
                        record,
                        f"{info.total} tokens exceed max_length {max_length} (raise max_length or set "
                        "overlong_policy to truncate / skip)",
                    )
                if overlong_policy == "truncate" and info.keep <= max_length:
                    self.overlong.truncated.append(where)
                    kept.append(record)
                    lengths.append(max_length)
                else:
                    self.overlong.skipped.append(where)
                continue
            kept.append(record)
            lengths.append(info.total)
        if self.overlong.truncated:
            logger.warning(
                "truncated %d record(s) to max_length %d; first: %s",
                len(self.overlong.truncated),
                max_length,
                self.overlong.truncated[0],
            )
        if self.overlong.skipped:
            logger.warning(
                "skipped %d overlong record(s) (policy %s%s); first: %s",
                len(self.overlong.skipped),
                overlong_policy,
                ", image or video tokens beyond the cut" if overlong_policy == "truncate" else "",
                self.overlong.skipped[0],
            )
        if not kept:
            raise ValueError("no training records left after the overlong policy")
        self.records = kept
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # An image can pass validation (header and structure) and still fail to decode in full: under data_policy
        # skip the next record that encodes stands in for it, counted (MidRunSkips); under error, one line.
        for offset in range(len(self.records)):
            record = self.records[(index + offset) % len(self.records)]
            try:
                item = encode(record, self.processor, self.template)
                break
            except DataError as error:
                self.skips.failed(error)
        else:
            raise MidRunDataError(self.records[index].source, None, "no record of this dataset loads")
        if self.max_length is not None and len(item["input_ids"]) > self.max_length:
            for key in ("input_ids", "labels", "mm_token_type_ids"):
                item[key] = item[key][: self.max_length]
        return item


def load_sft_processor(data_args: Any, model_args: Any) -> Any:
    """The processor with the recipe's image / video limits, padding on the right (training, not generation)."""
    from common.modeling import load_processor

    return load_processor(
        model_args.model_name_or_path,
        min_pixels=data_args.image_min_pixels,
        max_pixels=data_args.image_max_pixels,
        video_min_pixels=data_args.video_min_pixels,
        video_max_pixels=data_args.video_max_pixels,
        video_fps=data_args.video_fps,
        padding_side="right",
        trust_remote_code=model_args.trust_remote_code,
    )


def build_dataset(data_args: Any, processor: Any) -> SFTDataset:
    """Read and validate the whole JSON (data_policy), then measure every record (overlong_policy)."""
    if not data_args.data_path:
        raise ValueError("data_path is required (an SFT JSON in LLaVA format, SPEC 2.1)")
    result = read_llava(data_args.data_path, data_args.image_folder, policy=data_args.data_policy)
    logger.info("%s: %s", data_args.data_path, result.summary())
    if not result.records:
        raise DataError(data_args.data_path, None, f"no usable records ({result.summary()})")
    return SFTDataset(
        result.records,
        processor,
        template=data_args.prompt_template,
        max_length=data_args.max_length,
        overlong_policy=data_args.overlong_policy,
        data_policy=data_args.data_policy,
    )


# ---------------------------------------------------------------------------------------------------------------
# Collator


def dummy_vision_inputs(image_processor: Any) -> dict[str, torch.Tensor]:
    """The smallest image the vision tower accepts (one merged token), for text-only batches."""
    side = image_processor.patch_size * image_processor.merge_size
    pixels = side * side
    out = image_processor(
        images=[Image.new("RGB", (side, side))],
        size={"shortest_edge": pixels, "longest_edge": pixels},
        return_tensors="pt",
    )
    return {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}


@dataclass
class SFTCollator:
    """Right padding (pad token, labels -100, attention 0) and concatenation of the vision inputs.

    `vision_pass_for_text_only`: a batch without any image or video leaves the vision tower out of the forward
    pass. Under ZeRO-3 the other ranks then wait forever in the tower's parameter all-gather, and ZeRO-2 / DDP see
    different sets of gradients per rank. So such a batch gets the smallest dummy image, appended after the last
    sequence as padding: attention 0, labels -100, and ignored by the multimodal RoPE index, which only reads
    attended positions. The tower runs and its parameters receive exact zero gradients; the loss is unchanged
    (tested). Upstream ran a dummy vision forward inside its forked model instead.
    """

    pad_token_id: int
    image_token_id: int | None = None
    dummy_vision: dict[str, torch.Tensor] | None = None
    merge_length: int = 4
    padding_free: bool = False

    @classmethod
    def from_processor(
        cls, processor: Any, *, vision_pass_for_text_only: bool = False, padding_free: bool = False
    ) -> SFTCollator:
        tokenizer = processor.tokenizer
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token (Qwen2-VL pads with <|endoftext|>)")
        image_processor = processor.image_processor
        return cls(
            pad_token_id=tokenizer.pad_token_id,
            image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_PAD),
            dummy_vision=dummy_vision_inputs(image_processor) if vision_pass_for_text_only else None,
            merge_length=image_processor.merge_size**2,
            padding_free=padding_free,
        )

    def __call__(self, features: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        features = [dict(f) for f in features]
        has_vision = any("pixel_values" in f or "pixel_values_videos" in f for f in features)
        if self.padding_free:
            return self._flatten(features, has_vision)
        dummy_tokens = 0
        if self.dummy_vision is not None and not has_vision:
            dummy_tokens = int(self.dummy_vision["image_grid_thw"].prod()) // self.merge_length
            last = features[-1]
            last["input_ids"] = torch.cat([last["input_ids"], torch.full((dummy_tokens,), self.image_token_id)])
            last["labels"] = torch.cat([last["labels"], torch.full((dummy_tokens,), IGNORE_INDEX)])
            last["mm_token_type_ids"] = torch.cat(
                [last["mm_token_type_ids"], torch.ones(dummy_tokens, dtype=last["mm_token_type_ids"].dtype)]
            )
            last.update(self.dummy_vision)
        width = max(len(f["input_ids"]) for f in features)
        batch = {
            "input_ids": torch.full((len(features), width), self.pad_token_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(features), width), dtype=torch.long),
            "labels": torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long),
            "mm_token_type_ids": torch.zeros((len(features), width), dtype=torch.long),
        }
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            batch["input_ids"][row, :n] = feature["input_ids"]
            batch["labels"][row, :n] = feature["labels"]
            batch["mm_token_type_ids"][row, :n] = feature["mm_token_type_ids"]
            batch["attention_mask"][row, : n - (dummy_tokens if row == len(features) - 1 else 0)] = 1
        _concat_vision(batch, features)
        return batch

    def _flatten(self, features: list[dict[str, torch.Tensor]], has_vision: bool) -> dict[str, torch.Tensor]:
        """Padding-free: the samples side by side in one row, no attention mask, `seq_lengths` marking the samples.

        `labels` are the samples' own labels, concatenated. `shift_labels` (the targets the loss reads, which
        transformers' causal-LM loss and the Trainer's token count take as given) are shifted within each sample, so
        a sample's last token never predicts the next sample's first and the loss and its normaliser are exactly
        those of the padded batch. The dummy image of a text-only batch is a sample of its own (labels -100): it
        attends only to itself, so it cannot change the loss and its tower receives exact zero gradients.
        """
        if self.dummy_vision is not None and not has_vision:
            tokens = int(self.dummy_vision["image_grid_thw"].prod()) // self.merge_length
            features.append(
                {
                    "input_ids": torch.full((tokens,), self.image_token_id),
                    "labels": torch.full((tokens,), IGNORE_INDEX),
                    "mm_token_type_ids": torch.ones(tokens, dtype=features[-1]["mm_token_type_ids"].dtype),
                    **self.dummy_vision,
                }
            )
        ignore = torch.full((1,), IGNORE_INDEX)
        batch = {
            "input_ids": torch.cat([f["input_ids"] for f in features]).long()[None],
            "labels": torch.cat([f["labels"] for f in features]).long()[None],
            "shift_labels": torch.cat([torch.cat([f["labels"][1:], ignore]) for f in features]).long()[None],
            "mm_token_type_ids": torch.cat([f["mm_token_type_ids"] for f in features]).long()[None],
            "seq_lengths": torch.tensor([len(f["input_ids"]) for f in features]),
        }
        _concat_vision(batch, features)
        return batch


def _concat_vision(batch: dict[str, torch.Tensor], features: list[dict[str, torch.Tensor]]) -> None:
    for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
        parts = [f[key] for f in features if key in f]
        if parts:
            batch[key] = torch.cat(parts)


def rope_index_of(model: torch.nn.Module) -> Any:
    """The `get_rope_index` of a Qwen2-VL / Qwen2.5-VL model, also inside PEFT / DDP / DeepSpeed wrappers."""
    for module in model.modules():
        if callable(getattr(module, "get_rope_index", None)):
            return module.get_rope_index
    raise ValueError(f"{type(model).__name__} has no get_rope_index: padding_free needs a Qwen2-VL / Qwen2.5-VL model")


def padding_free_inputs(rope_index: Any, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The model's keyword arguments for a padding-free batch: `seq_lengths` replaced by the packed position ids.
    `use_cache=False` because transformers only looks for packed samples when there is no KV cache (a forward with
    the config's use_cache=True builds one and silently lets the samples attend to each other)."""
    inputs = {key: value for key, value in batch.items() if key != "seq_lengths"}
    inputs["position_ids"] = packed_position_ids(rope_index, batch)
    inputs["use_cache"] = False
    return inputs


def packed_position_ids(rope_index: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Position ids (4, 1, N) for a padding-free batch: row 0 the text positions, restarting at 0 in every sample
    (transformers reads sample boundaries from them: a block-diagonal causal mask for sdpa / eager, cu_seqlens for
    flash-attention varlen), rows 1-3 the M-RoPE (temporal, height, width) positions of each sample as if it were
    alone.

    `rope_index` is the model's own `get_rope_index`. It computes one sequence per row, so the packed row is
    unfolded into a padded batch for it and its positions are gathered back: the multimodal rule stays
    transformers', only the per-sample split is added here.
    """
    lengths = batch["seq_lengths"].tolist()
    input_ids, types = batch["input_ids"][0], batch["mm_token_type_ids"][0]
    rows = torch.zeros((len(lengths), max(lengths)), dtype=input_ids.dtype, device=input_ids.device)
    row_types, mask = torch.zeros_like(rows), torch.zeros_like(rows)
    start = 0
    for row, n in enumerate(lengths):
        rows[row, :n] = input_ids[start : start + n]
        row_types[row, :n] = types[start : start + n]
        mask[row, :n] = 1
        start += n
    if start != len(input_ids):
        raise ValueError(f"seq_lengths sum to {start} but the packed row has {len(input_ids)} tokens")
    grids = {key: batch[key] for key in ("image_grid_thw", "video_grid_thw") if key in batch}
    mrope, _ = rope_index(rows, mm_token_type_ids=row_types, attention_mask=mask, **grids)
    text = torch.cat([torch.arange(n, device=input_ids.device) for n in lengths])
    return torch.cat([text[None], mrope[:, mask.bool()].to(text.dtype)])[:, None, :]


# ---------------------------------------------------------------------------------------------------------------
# Preview CLI


def supervised_runs(input_ids: torch.Tensor, labels: torch.Tensor) -> list[list[int]]:
    """Token ids of every maximal run of supervised positions."""
    runs, current = [], []
    for token, label in zip(input_ids.tolist(), labels.tolist()):
        if label != IGNORE_INDEX:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def preview(dataset: SFTDataset, n: int) -> list[dict]:
    tokenizer = dataset.processor.tokenizer
    rows = []
    for index in range(min(n, len(dataset))):
        record = dataset.records[index]
        item = dataset[index]
        segments = render(record.turns, dataset.template, dataset.processor)
        rows.append(
            {
                "id": record.id,
                "text": "".join(segment.text for segment in segments),
                "supervised": [
                    tokenizer.decode(run, skip_special_tokens=False)
                    for run in supervised_runs(item["input_ids"], item["labels"])
                ],
                "num_tokens": len(item["input_ids"]),
                "num_supervised": int((item["labels"] != IGNORE_INDEX).sum()),
            }
        )
    return rows


@dataclass
class PreviewArguments:
    n: int = field(default=3, metadata={"help": "How many records to show (from the start of the file)."})


def main(argv: list[str] | None = None) -> int:
    from common.cli import RecipeParser
    from common.flag_aliases import PAPER_SFT_ALIASES
    from sft.configs import DataArguments, SFTModelArguments, SFTTrainingArguments

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "preview":
        print(  # noqa: T201 - CLI usage
            "usage: python -m sft.data preview --config RECIPE.yaml [--field value ...] [--n 3]", file=sys.stderr
        )
        return 2
    parser = RecipeParser(
        (DataArguments, SFTModelArguments, PreviewArguments),
        prog="python -m sft.data preview",
        aliases=PAPER_SFT_ALIASES,
    )
    # Training fields of the recipe (and their overrides) do not matter here: the preview needs no accelerator, so
    # they are accepted unparsed; anything that is not a field at all is an error.
    data_args, model_args, preview_args, _, cli_rest = parser.parse_args_and_config(
        argv[1:], return_remaining_strings=True, separate_remaining_strings=True
    )
    training_fields = {f.name for f in dataclasses.fields(SFTTrainingArguments)}
    unknown = [a for a in cli_rest if a.startswith("--") and a[2:].split("=")[0] not in training_fields]
    if unknown:
        print(f"error: unknown arguments {unknown}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    processor = load_sft_processor(data_args, model_args)
    try:
        # The whole file is validated (as training would); only the first n records are encoded.
        result = read_llava(data_args.data_path, data_args.image_folder, policy=data_args.data_policy)
        dataset = SFTDataset(
            result.records[: preview_args.n],
            processor,
            template=data_args.prompt_template,
            max_length=data_args.max_length,
            overlong_policy=data_args.overlong_policy,
        )
        rows = preview(dataset, preview_args.n)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
