"""common.modeling: dtype / attention resolution, pixel limits that really change the token count (SPEC 7.1), Auto
classes for Qwen2-VL and Qwen2.5-VL (SPEC 7.8), clear errors for missing checkpoints, vision modules through PEFT."""

from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from PIL import Image
from torch import nn

from common import modeling
from common.modeling import (
    load_model,
    load_model_and_processor,
    load_processor,
    merger,
    resolve_attn_implementation,
    resolve_dtype,
    vision_tower,
)
from offline.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    return load_model(tiny_model_dir)


@pytest.fixture(scope="module")
def qwen25_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_qwen25"), seed=0, arch="qwen2_5_vl")


def gpu(monkeypatch, *, bf16: bool = True, flash: bool = True) -> None:
    """Pretend to run on a CUDA machine (with or without bf16 / flash-attn)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    monkeypatch.setattr(modeling, "is_flash_attn_2_available", lambda: flash)


def image_tokens(processor, image: Image.Image) -> int:
    inputs = processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[image], return_tensors="pt")
    return int((inputs["input_ids"] == processor.image_token_id).sum())


def video_grid(processor, frames: int = 32, fps: float = 8.0, side: int = 112) -> list[int]:
    video = np.random.default_rng(0).integers(0, 255, (frames, side, side, 3), dtype=np.uint8)
    inputs = processor(
        text=["<|vision_start|><|video_pad|><|vision_end|>"],
        videos=[video],
        video_metadata=[{"fps": fps, "total_num_frames": frames}],
        return_tensors="pt",
    )
    return inputs["video_grid_thw"][0].tolist()


# --- resolution ---------------------------------------------------------------------------------------------------

ATTN_CASES = [
    # (requested, on_gpu, flash_installed, expected)
    ("auto", False, False, "sdpa"),  # this CPU machine
    (None, False, False, "sdpa"),
    ("auto", True, True, "flash_attention_2"),
    ("auto", True, False, "sdpa"),  # GPU without flash-attn
    ("auto", False, True, "sdpa"),  # flash-attn installed but no GPU
    ("eager", False, False, "eager"),  # explicit values pass through
    ("sdpa", True, True, "sdpa"),
    ("flash_attention_2", True, True, "flash_attention_2"),
]


@pytest.mark.parametrize("requested, on_gpu, flash, expected", ATTN_CASES)
def test_resolve_attn_implementation(monkeypatch, requested, on_gpu, flash, expected):
    if on_gpu:
        gpu(monkeypatch, flash=flash)
    else:
        monkeypatch.setattr(modeling, "is_flash_attn_2_available", lambda: flash)
    assert resolve_attn_implementation(requested) == expected


def test_flash_attention_without_flash_attn_fails_clearly():
    with pytest.raises(ValueError, match="flash_attention_2.*flash-attn"):
        resolve_attn_implementation("flash_attention_2")


DTYPE_CASES = [
    # (requested, on_gpu, bf16_supported, expected)
    ("auto", False, False, torch.float32),  # this CPU machine
    (None, False, False, torch.float32),
    ("auto", True, True, torch.bfloat16),
    ("auto", True, False, torch.float32),  # e.g. a V100: no silent bf16
    ("float32", True, True, torch.float32),
    ("bfloat16", False, False, torch.bfloat16),  # explicit values are honoured, never forced
    ("float16", False, False, torch.float16),
    (torch.float16, False, False, torch.float16),
]


@pytest.mark.parametrize("requested, on_gpu, bf16, expected", DTYPE_CASES)
def test_resolve_dtype(monkeypatch, requested, on_gpu, bf16, expected):
    if on_gpu:
        gpu(monkeypatch, bf16=bf16)
    assert resolve_dtype(requested) == expected


@pytest.mark.parametrize("requested", ["fp8", "bf16", "float64 "])
def test_resolve_dtype_rejects_unknown_names(requested):
    with pytest.raises(ValueError, match="dtype must be"):
        resolve_dtype(requested)


# --- loading ------------------------------------------------------------------------------------------------------


def test_load_model_defaults_on_cpu(tiny_model):
    assert type(tiny_model).__name__ == "Qwen2VLForConditionalGeneration"
    assert tiny_model.dtype == torch.float32
    assert tiny_model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize(
    "dtype, attn, expected_dtype",
    [("bfloat16", "eager", torch.bfloat16), (torch.float16, "sdpa", torch.float16)],
)
def test_load_model_honours_dtype_and_attention(tiny_model_dir, dtype, attn, expected_dtype):
    model = load_model(tiny_model_dir, dtype=dtype, attn_implementation=attn)
    assert model.dtype == expected_dtype
    assert model.config._attn_implementation == attn


def test_load_model_and_processor_routes_options(tiny_model_dir):
    model, processor = load_model_and_processor(
        tiny_model_dir, max_pixels=56 * 56, padding_side="left", dtype="bfloat16"
    )
    assert model.dtype == torch.bfloat16
    assert processor.image_processor.size["longest_edge"] == 56 * 56
    assert processor.tokenizer.padding_side == "left"


def test_qwen25_through_the_same_path(qwen25_dir):
    model, processor = load_model_and_processor(qwen25_dir, max_pixels=56 * 56)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert image_tokens(processor, Image.new("RGB", (112, 112))) == 4
    assert vision_tower(model) is model.model.visual
    assert merger(model) is model.model.visual.merger


@pytest.mark.parametrize("loader", [load_processor, load_model])
@pytest.mark.parametrize("missing", ["/no/such/checkpoint", "./outputs/no-such-run", "a/b/c"])
def test_missing_local_path_names_it(loader, missing):
    # Neither a local path nor a possible Hub id: fail at once, naming what was asked for.
    with pytest.raises(FileNotFoundError, match="no such local path") as error:
        loader(missing)
    assert str(error.value).startswith(missing)


def test_unreachable_hub_id_names_it():
    # A well-formed Hub id that is not cached while offline (conftest sets HF_HUB_OFFLINE=1).
    with pytest.raises(OSError, match="aybora/no-such-model: not a local path and not loadable from the"):
        load_processor("aybora/no-such-model")


# --- pixel limits (SPEC 7.1: must really change the number of image tokens) ---------------------------------------

PIXEL_CASES = [
    # (min_pixels, max_pixels, image side, expected <|image_pad|> tokens)
    (None, None, 224, 16),  # the tiny checkpoint's own max_pixels = 112*112
    (None, 56 * 56, 224, 4),  # smaller max: fewer tokens
    (None, 224 * 224, 224, 64),  # larger max: more tokens
    (None, None, 28, 4),  # checkpoint min_pixels = 56*56 scales a small image up
    (112 * 112, 224 * 224, 28, 16),  # larger min: more tokens
]


@pytest.mark.parametrize("min_pixels, max_pixels, side, tokens", PIXEL_CASES)
def test_pixel_limits_change_image_tokens(tiny_model_dir, min_pixels, max_pixels, side, tokens):
    processor = load_processor(tiny_model_dir, min_pixels=min_pixels, max_pixels=max_pixels)
    assert image_tokens(processor, Image.new("RGB", (side, side), (90, 120, 60))) == tokens


def test_pixel_limits_survive_save_and_load(tiny_model_dir, tmp_path):
    load_processor(tiny_model_dir, min_pixels=28 * 28, max_pixels=84 * 84).save_pretrained(tmp_path)
    reloaded = load_processor(tmp_path)
    assert (reloaded.image_processor.size["shortest_edge"], reloaded.image_processor.size["longest_edge"]) == (
        28 * 28,
        84 * 84,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_pixels": 224 * 224, "max_pixels": 56 * 56}, "image pixel limits"),
        ({"max_pixels": 28 * 28}, "image pixel limits"),  # below the checkpoint's min_pixels
        ({"min_pixels": 0}, "image pixel limits"),
        ({"video_max_pixels": 0}, "video pixel limits"),
        ({"video_fps": 0}, "video_fps must be positive"),
        ({"padding_side": "middle"}, "padding_side"),
    ],
)
def test_invalid_processor_options(tiny_model_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_processor(tiny_model_dir, **kwargs)


def test_video_pixel_limits_leave_images_alone(tiny_model_dir):
    processor = load_processor(tiny_model_dir, video_max_pixels=56 * 56)
    assert processor.video_processor.size["longest_edge"] == 56 * 56
    assert processor.image_processor.size["longest_edge"] == 112 * 112
    # 32 frames in temporal pairs; 112 px frames scaled to 56 px: 4x4 patches.
    assert video_grid(processor) == [16, 4, 4]


@pytest.mark.parametrize("fps, grid_t", [(1.0, 2), (4.0, 8)])
def test_video_fps_samples_frames(tiny_model_dir, fps, grid_t):
    # A 4 s clip at 8 fps: 1 fps -> 4 frames (the processor's minimum), 4 fps -> 16 frames; 2 frames per grid step.
    processor = load_processor(tiny_model_dir, video_fps=fps)
    assert video_grid(processor, frames=32, fps=8.0) == [grid_t, 8, 8]


# --- vision modules (per-module learning rates) -------------------------------------------------------------------


def test_vision_tower_and_merger(tiny_model):
    assert vision_tower(tiny_model) is tiny_model.model.visual
    assert type(vision_tower(tiny_model)).__name__ == "Qwen2VisionTransformerPretrainedModel"
    assert merger(tiny_model) is tiny_model.model.visual.merger
    assert type(merger(tiny_model)).__name__ == "PatchMerger"


def test_vision_modules_through_peft(tiny_model_dir):
    model = load_model(tiny_model_dir)
    tower, projector = model.model.visual, model.model.visual.merger
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    assert type(wrapped).__name__ == "PeftModel"
    assert vision_tower(wrapped) is tower
    assert merger(wrapped) is projector


def test_vision_tower_of_a_text_module_fails():
    with pytest.raises(ValueError, match="Linear has no vision tower"):
        vision_tower(nn.Linear(2, 2))
