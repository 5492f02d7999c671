"""Configuration of the SFT stage: three dataclasses parsed by `trl.TrlParser` (YAML recipe + CLI overrides).

- `DataArguments`: the LLaVA JSON, its image folder, the prompt template, pixel limits and the bad-data policies.
- `ModelArguments`: the checkpoint and what trains (the upstream 2U1 flag names, so upstream commands translate
  one to one: freeze_vision_tower, freeze_llm, tune_merger, lora_enable, vision_lora, bits, use_dora, ...).
- `SFTConfig`: `transformers.TrainingArguments` plus the per-module learning rates (vision_lr, merger_lr) and
  padding-free batching (padding_free).

Every combination rule is checked in `__post_init__`, so a bad recipe fails before any data or model is read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from common.training import adapt_to_host

logger = logging.getLogger(__name__)

PROMPT_TEMPLATES = ("paper", "official")
DATA_POLICIES = ("error", "skip")
OVERLONG_POLICIES = ("truncate", "skip", "error")
QUANT_BITS = (4, 8, 16)
# Upstream's default exclusions for LoRA targets: the output head and the token embedding stay dense.
DEFAULT_LORA_EXCLUDE = ("lm_head", "embed_tokens")


@dataclass
class DataArguments:
    data_path: str | None = field(
        default=None, metadata={"help": "LLaVA-style SFT JSON (SPEC 2.1): a list of {id, image|video, conversations}."}
    )
    image_folder: str | None = field(
        default=None,
        metadata={
            "help": "Folder that relative image / video paths are joined with (a path that exists is used as is)."
        },
    )
    prompt_template: str = field(
        default="paper",
        metadata={
            "help": "'paper': the upstream (2U1, Feb 2025) prompt with an extra newline before every <|im_end|>, as "
            "the released SAMChat / TinyRS models were trained (SPEC 3, 7.2); 'official': the processor's own chat "
            "template (Qwen's). Both supervise each reply and its closing tokens only."
        },
    )
    max_length: int = field(
        default=8192,
        metadata={"help": "Longest tokenised record (prompt + replies + image / video tokens) fed to the model."},
    )
    overlong_policy: str = field(
        default="truncate",
        metadata={
            "help": "Records longer than max_length: 'truncate' cuts the text at max_length (a record whose image / "
            "video tokens or first reply token lie beyond the cut is skipped instead), 'skip' drops them, 'error' "
            "stops. Truncated and skipped records are counted and logged, never dropped silently."
        },
    )
    data_policy: str = field(
        default="error",
        metadata={
            "help": "Bad records (common/data.py): 'error' stops at the first, naming file and record; 'skip' drops "
            "them, counts them and logs a summary."
        },
    )
    image_min_pixels: int | None = field(
        default=None, metadata={"help": "Minimum pixels per image after resizing (None: the processor's own)."}
    )
    image_max_pixels: int | None = field(
        default=None, metadata={"help": "Maximum pixels per image after resizing (None: the processor's own)."}
    )
    video_min_pixels: int | None = field(
        default=None, metadata={"help": "Minimum pixels per video frame (None: the processor's own)."}
    )
    video_max_pixels: int | None = field(
        default=None, metadata={"help": "Maximum pixels per video frame (None: the processor's own)."}
    )
    video_fps: float = field(
        default=2.0, metadata={"help": "Frames per second sampled from each video (qwen-vl-utils' default, 2)."}
    )

    def __post_init__(self):
        _choice("prompt_template", self.prompt_template, PROMPT_TEMPLATES)
        _choice("overlong_policy", self.overlong_policy, OVERLONG_POLICIES)
        _choice("data_policy", self.data_policy, DATA_POLICIES)
        if self.max_length <= 0:
            raise ValueError(f"max_length must be positive, got {self.max_length}")
        if self.video_fps <= 0:
            raise ValueError(f"video_fps must be positive, got {self.video_fps}")
        for low, high, what in (
            (self.image_min_pixels, self.image_max_pixels, "image"),
            (self.video_min_pixels, self.video_max_pixels, "video"),
        ):
            if low is not None and high is not None and not 0 < low <= high:
                raise ValueError(f"{what} pixel limits need 0 < min <= max, got min {low}, max {high}")


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Checkpoint to fine-tune: Hub id (e.g. Qwen/Qwen2-VL-2B-Instruct) or path."}
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "Weights dtype: 'auto' follows bf16 / fp16 of the training arguments, else float32."},
    )
    attn_implementation: str = field(
        default="auto",
        metadata={"help": "'auto' (flash_attention_2 when CUDA and flash-attn are present, else sdpa), sdpa, eager."},
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the checkpoint."})
    freeze_vision_tower: bool = field(default=False, metadata={"help": "Freeze the vision encoder (without merger)."})
    freeze_llm: bool = field(default=False, metadata={"help": "Freeze the language model (and its LM head)."})
    tune_merger: bool = field(
        default=True,
        metadata={
            "help": "Train the vision-language merger; applied after freeze_vision_tower (the merger is inside "
            "the vision tower), so it wins for the merger's parameters."
        },
    )
    lora_enable: bool = field(
        default=False, metadata={"help": "LoRA adapters on the language model's Linear / Embedding layers."}
    )
    vision_lora: bool = field(default=False, metadata={"help": "LoRA on the vision tower too (needs lora_enable)."})
    lora_rank: int = field(default=64, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_namespan_exclude: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_EXCLUDE),
        metadata={"help": "Module-name substrings never given LoRA ('visual' is added unless vision_lora)."},
    )
    num_lora_modules: int = field(
        default=-1, metadata={"help": "Only the last N target modules get LoRA (-1: all of them)."}
    )
    use_dora: bool = field(default=False, metadata={"help": "Weight-decomposed LoRA (DoRA); needs lora_enable."})
    bits: int = field(
        default=16,
        metadata={
            "help": "4 or 8: QLoRA, the base weights quantised by bitsandbytes (CUDA only; the vision tower "
            "stays unquantised); 16: no quantisation."
        },
    )

    def __post_init__(self):
        # The first two rules are upstream's own validation (SPEC 3).
        if self.lora_enable and not self.freeze_llm:
            raise ValueError("lora_enable requires freeze_llm: LoRA replaces full training of the language model")
        if self.vision_lora and not (self.lora_enable and self.freeze_vision_tower):
            raise ValueError("vision_lora requires lora_enable and freeze_vision_tower")
        if self.use_dora and not self.lora_enable:
            raise ValueError("use_dora requires lora_enable")
        if self.bits not in QUANT_BITS:
            raise ValueError(f"bits must be one of {QUANT_BITS}, got {self.bits}")
        if self.bits != 16 and not self.lora_enable:
            raise ValueError(f"bits={self.bits} (QLoRA) requires lora_enable: quantised weights cannot be trained")
        if self.num_lora_modules == 0 or self.num_lora_modules < -1:
            raise ValueError(f"num_lora_modules must be -1 (all) or positive, got {self.num_lora_modules}")
        if self.freeze_llm and self.freeze_vision_tower and not self.tune_merger and not self.lora_enable:
            raise ValueError("nothing to train: freeze_llm, freeze_vision_tower, tune_merger false and no LoRA")


@dataclass
class SFTConfig(TrainingArguments):
    """TrainingArguments with per-module learning rates; defaults that differ from transformers' are noted."""

    vision_lr: float | None = field(
        default=None, metadata={"help": "Learning rate of the vision tower without merger (None: learning_rate)."}
    )
    merger_lr: float | None = field(
        default=None, metadata={"help": "Learning rate of the merger (None: learning_rate)."}
    )
    padding_free: bool = field(
        default=False,
        metadata={
            "help": "Concatenate the samples of each per-device batch into one row with no padding: per-sample "
            "M-RoPE positions and attention (flash-attention varlen on GPU, else one sdpa call per sample; eager "
            "uses a block-diagonal mask), the same labels and loss normalisation as padded batches. Off by default "
            "(README, Performance)."
        },
    )
    # The dataset yields exactly the model inputs; column removal only applies to datasets.Dataset anyway.
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep as False for this stage."})

    def __post_init__(self):
        for name in ("vision_lr", "merger_lr"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.deepspeed == "":
            self.deepspeed = None  # `--deepspeed ""` turns a recipe's DeepSpeed off, as in GRPO
        if self.deepspeed is not None:
            check_deepspeed_optimizer(
                self.deepspeed, learning_rate=self.learning_rate, vision_lr=self.vision_lr, merger_lr=self.merger_lr
            )
        if self.use_liger_kernel and not liger_available():
            # Liger's Triton kernels are a GPU speed-up, never a requirement: recipes ask for them, CPUs and GPU
            # installs without the `gpu` extra run without them.
            logger.warning("use_liger_kernel: liger-kernel or a CUDA GPU is missing; training without Liger kernels")
            self.use_liger_kernel = False
        # `gradient_checkpointing*` is the name both locks accept: transformers 5.17 (constraints-gpu.txt, held back by
        # vLLM) has only it; 5.24 (constraints.txt) renamed it `activation_checkpointing*` and keeps the old name as
        # an alias that mirrors the new one after __post_init__ (TRL 1.16 reads the old name too).
        new_name = getattr(self, "activation_checkpointing", None)
        if new_name or self.gradient_checkpointing:
            # Non-reentrant checkpointing needs no `enable_input_require_grads` when the embeddings are frozen
            # (LoRA, freeze_llm) and works with DDP's unused-parameter search.
            kwargs_names = ("activation_checkpointing_kwargs", "gradient_checkpointing_kwargs")
            if all(getattr(self, name, None) is None for name in kwargs_names):
                # The current name where it exists, so 5.24 does not warn about its own alias.
                native = next(name for name in kwargs_names if hasattr(self, name))
                setattr(self, native, {"use_reentrant": False})
        adapt_to_host(self)
        super().__post_init__()


def liger_available() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("liger_kernel") is not None


def _choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def load_deepspeed_config(config: str | dict) -> dict:
    if isinstance(config, dict):
        return config
    path = Path(config)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read the DeepSpeed config ({error})") from None


def check_deepspeed_optimizer(
    config: str | dict, *, learning_rate: float, vision_lr: float | None, merger_lr: float | None
) -> None:
    """SPEC 7.3: a DeepSpeed `optimizer` block makes DeepSpeed build one optimizer over all parameters at its own
    rate, so vision_lr / merger_lr and the no-decay split are silently lost (upstream's zero3_offload.json did this).
    Per-module rates that differ from learning_rate therefore fail here; the blocks alone get a loud warning."""
    ds = load_deepspeed_config(config)
    where = config if isinstance(config, str) else "the DeepSpeed config"
    per_module = {
        name: value
        for name, value in (("vision_lr", vision_lr), ("merger_lr", merger_lr))
        if value is not None and value != learning_rate
    }
    if "optimizer" in ds and per_module:
        rates = ", ".join(f"{name}={value:g}" for name, value in per_module.items())
        raise ValueError(
            f"{where} has an 'optimizer' block, so DeepSpeed would train every parameter at one rate and ignore "
            f"{rates} (learning_rate={learning_rate:g}); this is upstream's zero3_offload.json defect (SPEC 7.3). "
            "Remove the 'optimizer' (and 'scheduler') block, as in configs/deepspeed/*.json, or drop the "
            "per-module rates."
        )
    blocks = [name for name in ("optimizer", "scheduler") if name in ds]
    if blocks:
        logger.warning(
            "%s has %s block(s): DeepSpeed builds them itself, so the weight-decay exemptions for norms and biases "
            "and/or lr_scheduler_type / warmup_steps of this recipe do NOT apply (SPEC 7.3)",
            where,
            " and ".join(repr(b) for b in blocks),
        )
