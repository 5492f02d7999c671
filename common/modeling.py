"""Load a Qwen2-VL / Qwen2.5-VL checkpoint (Hub id or local path) and its processor, the one way every stage does.

Classes come from the checkpoint's config through the Auto classes (upstream picked them by a substring of the path
and forced bf16: SPEC 7.8). Pixel limits are written into the image / video processor's `size`, the field
transformers actually reads (upstream passed them under names the processor ignored: SPEC 7.1). Nothing is forced:
dtype and attention implementation resolve from availability only when asked for "auto".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from torch import nn
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.image_utils import SizeDict
from transformers.utils import is_flash_attn_2_available

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_attn_implementation(requested: str | None = "auto") -> str:
    """ "auto" (or None) -> "flash_attention_2" when CUDA and flash-attn are usable, else "sdpa"; explicit values pass
    through, except flash_attention_2 without flash-attn, which fails here rather than deep inside transformers."""
    flash = torch.cuda.is_available() and is_flash_attn_2_available()
    if requested in (None, "auto"):
        return "flash_attention_2" if flash else "sdpa"
    if requested == "flash_attention_2" and not flash:
        raise ValueError(
            "attn_implementation='flash_attention_2' needs a CUDA GPU and the flash-attn package "
            "(pip install flash-attn); use 'auto' or 'sdpa' instead"
        )
    return requested


def resolve_dtype(requested: str | torch.dtype | None = "auto") -> torch.dtype:
    """ "auto" (or None) -> bfloat16 on a CUDA GPU that supports it, else float32; names in DTYPES or a torch.dtype
    are taken as given."""
    if isinstance(requested, torch.dtype):
        return requested
    if requested in (None, "auto"):
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    if requested not in DTYPES:
        raise ValueError(f"dtype must be 'auto', one of {sorted(DTYPES)} or a torch.dtype, got {requested!r}")
    return DTYPES[requested]


class ModelSourceError(FileNotFoundError):
    """The model (or processor) named is neither a local path nor loadable from the Hub: a user error, one line."""


def _source(name_or_path: str | Path) -> str:
    """An existing local path, or a string that can be a Hub id; anything else fails naming it."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path)
    try:
        validate_repo_id(str(name_or_path))
    except HFValidationError:
        raise ModelSourceError(
            f"{name_or_path}: no such local path, and not a valid Hugging Face Hub id either"
        ) from None
    return str(name_or_path)


def _from_pretrained(loader: Any, name_or_path: str | Path, **kwargs: Any) -> Any:
    source = _source(name_or_path)
    try:
        return loader.from_pretrained(source, **kwargs)
    except OSError as error:
        if Path(source).exists():
            raise
        # A Hub id that cannot be fetched (offline, private, typo): say which name was meant, with the library's
        # reason, instead of a resolver traceback.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelSourceError(
            f"{name_or_path}: not a local path and not loadable from the Hugging Face Hub: {reason}"
        ) from None


def _set_pixel_limits(processor: Any, min_pixels: int | None, max_pixels: int | None, what: str) -> None:
    if min_pixels is None and max_pixels is None:
        return
    size = getattr(processor, "size", None)
    if size is None or size.get("shortest_edge") is None or size.get("longest_edge") is None:
        raise ValueError(
            f"{type(processor).__name__} has no Qwen2-VL-style pixel limits (size with shortest_edge / longest_edge), "
            f"so {what} min/max pixels cannot be applied"
        )
    low = size["shortest_edge"] if min_pixels is None else min_pixels
    high = size["longest_edge"] if max_pixels is None else max_pixels
    if not 0 < low <= high:
        raise ValueError(f"{what} pixel limits need 0 < min_pixels <= max_pixels, got min {low}, max {high}")
    # Qwen2-VL's processors read the limits from `size` (shortest_edge = min pixels, longest_edge = max pixels).
    processor.size = SizeDict(shortest_edge=low, longest_edge=high)


def load_processor(
    name_or_path: str | Path,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    video_min_pixels: int | None = None,
    video_max_pixels: int | None = None,
    video_fps: float | None = None,
    padding_side: str | None = None,
    trust_remote_code: bool = False,
):
    """AutoProcessor with the given overrides; None keeps the checkpoint's value.

    video_fps makes the video processor sample that many frames per second from decoded videos (paths or arrays with
    metadata); frames that are already sampled (qwen-vl-utils) must then be passed with do_sample_frames=False.
    """
    processor = _from_pretrained(AutoProcessor, name_or_path, trust_remote_code=trust_remote_code)
    _set_pixel_limits(processor.image_processor, min_pixels, max_pixels, "image")
    if any(value is not None for value in (video_min_pixels, video_max_pixels, video_fps)):
        video_processor = getattr(processor, "video_processor", None)
        if video_processor is None:
            raise ValueError(f"{name_or_path}: the processor has no video processor for the video options")
        _set_pixel_limits(video_processor, video_min_pixels, video_max_pixels, "video")
        if video_fps is not None:
            if video_fps <= 0:
                raise ValueError(f"video_fps must be positive, got {video_fps}")
            video_processor.fps = video_fps
            video_processor.do_sample_frames = True
    if padding_side is not None:
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        processor.tokenizer.padding_side = padding_side
    return processor


def load_model(
    name_or_path: str | Path,
    *,
    dtype: str | torch.dtype | None = "auto",
    attn_implementation: str | None = "auto",
    trust_remote_code: bool = False,
    **kwargs: Any,
):
    """AutoModelForImageTextToText (Qwen2-VL, Qwen2.5-VL, ...) with resolved dtype and attention; extra kwargs go to
    from_pretrained (e.g. device_map, revision)."""
    resolved_dtype = resolve_dtype(dtype)
    attention = resolve_attn_implementation(attn_implementation)
    model = _from_pretrained(
        AutoModelForImageTextToText,
        name_or_path,
        dtype=resolved_dtype,
        attn_implementation=attention,
        trust_remote_code=trust_remote_code,
        **kwargs,
    )
    logger.info("loaded %s from %s (%s, %s)", type(model).__name__, name_or_path, resolved_dtype, attention)
    return model


_PROCESSOR_OPTIONS = frozenset(
    {"min_pixels", "max_pixels", "video_min_pixels", "video_max_pixels", "video_fps", "padding_side"}
)


def load_model_and_processor(name_or_path: str | Path, **kw: Any):
    """load_model and load_processor on the same checkpoint; processor options go to the processor, trust_remote_code
    to both, everything else to the model."""
    processor_kw = {key: kw.pop(key) for key in list(kw) if key in _PROCESSOR_OPTIONS}
    trust_remote_code = kw.pop("trust_remote_code", False)
    processor = load_processor(name_or_path, trust_remote_code=trust_remote_code, **processor_kw)
    model = load_model(name_or_path, trust_remote_code=trust_remote_code, **kw)
    return model, processor


def _unwrap(model: nn.Module) -> nn.Module:
    # PEFT wraps the transformers model (PeftModel -> LoraModel -> model); the vision tower lives in the latter.
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def vision_tower(model: nn.Module) -> nn.Module:
    """The vision encoder of a vision-language model (also through PEFT wrappers), e.g. for its own learning rate."""
    base = _unwrap(model)
    tower = base.get_encoder(modality="image") if hasattr(base, "get_encoder") else None
    if tower is None or tower is base:
        raise ValueError(f"{type(base).__name__} has no vision tower")
    return tower


def merger(model: nn.Module) -> nn.Module:
    """The vision-to-language projector (Qwen2-VL's `merger`) of the vision tower."""
    tower = vision_tower(model)
    module = getattr(tower, "merger", None)
    if not isinstance(module, nn.Module):
        raise ValueError(f"{type(tower).__name__} has no merger module")
    return module


def module_name(model: nn.Module, module: nn.Module) -> str:
    """The qualified name of `module` inside `model` (as `named_modules` spells it), e.g. to build a PEFT regex."""
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError(f"{type(module).__name__} is not a submodule of {type(model).__name__}")


# The three parts of a vision-language model that the freeze flags (common.model_args) name.
PARTS = ("vision", "merger", "llm")


def part_of_parameters(model: nn.Module) -> dict[str, str]:
    """Parameter name -> "vision" (tower without merger), "merger" or "llm" (everything else)."""
    tower_ids = {id(p) for p in vision_tower(model).parameters()}
    merger_ids = {id(p) for p in merger(model).parameters()}
    return {
        name: "merger" if id(p) in merger_ids else "vision" if id(p) in tower_ids else "llm"
        for name, p in model.named_parameters()
    }


def set_trainable(model: nn.Module, model_args: Any) -> None:
    """Full fine-tuning flags (no LoRA), the same in both stages: the tower first (freeze_vision_tower), then the
    merger inside it (tune_merger), then the language model and LM head (freeze_llm)."""
    parts = part_of_parameters(model)
    wanted = {
        "vision": not model_args.freeze_vision_tower,
        "merger": model_args.tune_merger,
        "llm": not model_args.freeze_llm,
    }
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(wanted[parts[name]])


def model_dtype(model_args: Any, training_args: Any) -> torch.dtype:
    """The dtype a stage loads its weights in: model_args.dtype, where "auto" follows the training precision (bf16 /
    fp16 weights, as upstream loaded them), else float32. The same rule in both stages."""
    if model_args.dtype not in (None, "auto"):
        return resolve_dtype(model_args.dtype)
    if training_args.bf16:
        return torch.bfloat16
    if training_args.fp16:
        return torch.float16
    return torch.float32
