"""Configuration of the SFT stage: three dataclasses parsed by `trl.TrlParser` (YAML recipe + CLI overrides).

- `DataArguments`: the LLaVA JSON, its image folder, the prompt template, pixel limits and the bad-data policies.
- `SFTModelArguments`: the checkpoint and what trains, in the vocabulary both stages share
  (common.model_args: TRL's ModelConfig names plus the freeze flags) with 2U1's defaults; the SFT papers' 2U1 flag
  names (--lora_enable, --lora_rank, --lora_namespan_exclude, --bits) are accepted as aliases (sft.train).
- `SFTTrainingArguments`: `transformers.TrainingArguments` plus the per-module learning rates (vision_lr,
  merger_lr) and padding-free batching (padding_free). Named for what it is: trl.SFTConfig is another class.

Every combination rule is checked in `__post_init__`, so a bad recipe fails before any data or model is read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from transformers import SchedulerType, TrainingArguments

from common.cli import check_choice
from common.data import DATA_POLICIES
from common.eval_on_save import EvalOnSaveArguments
from common.model_args import ModelArguments
from common.training import adapt_to_host

logger = logging.getLogger(__name__)

PROMPT_TEMPLATES = ("paper", "official")
OVERLONG_POLICIES = ("truncate", "skip", "error")
LOSS_NORMALIZATIONS = ("tokens", "micro_batch")
DECAY_EXEMPTIONS = ("norms_biases", "layernorm_biases", "none")
WARMUP_SHAPES = ("linear", "deepspeed_log")


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
            "help": "Bad records (common.data): 'error' stops at the first, naming file and record; 'skip' drops "
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
        check_choice("prompt_template", self.prompt_template, PROMPT_TEMPLATES)
        check_choice("overlong_policy", self.overlong_policy, OVERLONG_POLICIES)
        check_choice("data_policy", self.data_policy, DATA_POLICIES)
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
class SFTModelArguments(ModelArguments):
    """The shared model vocabulary (common.model_args) with 2U1's defaults, the SFT papers' code base: LoRA rank 64,
    alpha 16, nested (double) quantisation. LoRA targets follow 2U1's rule (every Linear / Embedding outside
    lora_exclude_modules, the last num_lora_modules of them), and what trains fully beside the adapters follows the
    freeze flags, so PEFT's own target / modules_to_save lists are not accepted here."""

    use_peft: bool = field(
        default=False,
        metadata={
            "help": "LoRA adapters on the language model's Linear / Embedding layers (2U1's --lora_enable); needs "
            "freeze_llm."
        },
    )
    lora_r: int = field(default=64, metadata={"help": "LoRA rank (2U1's --lora_rank; 2U1's default 64)."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha (2U1's default 16)."})
    load_in_4bit: bool = field(
        default=False, metadata={"help": "QLoRA, 4-bit nf4 base weights (CUDA; needs use_peft); 2U1's --bits 4."}
    )
    load_in_8bit: bool = field(
        default=False, metadata={"help": "QLoRA, 8-bit base weights (CUDA; needs use_peft); 2U1's --bits 8."}
    )
    # GRPO's --trust_remote_code is trl.GRPOConfig's field; SFT's training arguments have none, so it lives here.
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the checkpoint."})
    use_bnb_nested_quant: bool = field(
        default=True, metadata={"help": "QLoRA: nested (double) quantisation of the 4-bit constants, as 2U1."}
    )

    def __post_init__(self):
        super().__post_init__()
        self.reject_unsupported(
            "SFT",
            {
                "lora_target_modules": "SFT targets every Linear / Embedding outside lora_exclude_modules "
                "(num_lora_modules keeps the last N)",
                "lora_modules_to_save": "SFT trains modules fully by the freeze flags (freeze_vision_tower, "
                "tune_merger, freeze_llm)",
                "lora_target_parameters": "SFT targets modules only",
                "lora_task_type": "SFT trains a causal language model (CAUSAL_LM)",
                "model_revision": "give a local path or a Hub id at the wanted revision",
            },
        )
        quantised = self.load_in_4bit or self.load_in_8bit
        # The first two rules are upstream's own validation (SPEC 3).
        if self.use_peft and not self.freeze_llm:
            raise ValueError("use_peft requires freeze_llm: LoRA replaces full training of the language model")
        if self.vision_lora and not (self.use_peft and self.freeze_vision_tower):
            raise ValueError("vision_lora requires use_peft and freeze_vision_tower")
        if self.use_dora and not self.use_peft:
            raise ValueError("use_dora requires use_peft")
        if quantised and not self.use_peft:
            raise ValueError(
                "load_in_4bit / load_in_8bit (QLoRA) require use_peft: quantised weights cannot be trained"
            )
        if self.num_lora_modules == 0 or self.num_lora_modules < -1:
            raise ValueError(f"num_lora_modules must be -1 (all) or positive, got {self.num_lora_modules}")
        if self.freeze_llm and self.freeze_vision_tower and not self.tune_merger and not self.use_peft:
            raise ValueError("nothing to train: freeze_llm, freeze_vision_tower, tune_merger false and no LoRA")


@dataclass
class SFTTrainingArguments(EvalOnSaveArguments, TrainingArguments):
    """TrainingArguments with per-module learning rates and --eval_on_save (common.eval_on_save); defaults that differ from transformers' are noted. (Not
    trl.SFTConfig: the stage trains with transformers' Trainer, sft.trainer.)"""

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
    # The step as the released SFT run took it (SPEC 7.21-7.24); the defaults are the newer behaviour, the paper
    # recipes set the released one.
    loss_normalization: str = field(
        default="tokens",
        metadata={
            "help": "How micro-batch losses make one step's gradient. 'tokens' (transformers 5): the summed token "
            "losses over the tokens of every accumulated micro-batch on every device. 'micro_batch' (the released "
            "SFT step, transformers 4.49 with 2U1's loss-kwarg-free forward): each micro-batch's token mean divided "
            "by gradient_accumulation_steps, averaged over devices (SPEC 7.21)."
        },
    )
    weight_decay_exemptions: str = field(
        default="norms_biases",
        metadata={
            "help": "Which trained weights get no weight decay. 'norms_biases' (transformers 5): every normalisation "
            "layer and every bias. 'layernorm_biases' (2U1's trainer with transformers 4.49): nn.LayerNorm weights "
            "and names containing 'bias', so RMSNorm weights decay. 'none' (the released run: its DeepSpeed "
            "optimizer block built one AdamW over every parameter): all decay (SPEC 7.22)."
        },
    )
    warmup_shape: str = field(
        default="linear",
        metadata={
            "help": "'linear' (transformers' schedulers). 'deepspeed_log' (the released run's DeepSpeed 0.15.4 "
            "WarmupLR): optimizer steps 1 and 2 at lr 0, step s+1 at learning_rate * ln(s) / ln(W) with "
            "W = max(2, warm-up steps), then constant; needs lr_scheduler_type constant_with_warmup (SPEC 7.23)."
        },
    )
    # The dataset yields exactly the model inputs; column removal only applies to datasets.Dataset anyway.
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep as False for this stage."})

    def __post_init__(self):
        check_choice("loss_normalization", self.loss_normalization, LOSS_NORMALIZATIONS)
        check_choice("weight_decay_exemptions", self.weight_decay_exemptions, DECAY_EXEMPTIONS)
        check_choice("warmup_shape", self.warmup_shape, WARMUP_SHAPES)
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
        if self.warmup_shape == "deepspeed_log" and self.lr_scheduler_type != SchedulerType.CONSTANT_WITH_WARMUP:
            raise ValueError(
                "warmup_shape deepspeed_log is DeepSpeed's WarmupLR, warm-up then constant: it needs "
                f"lr_scheduler_type constant_with_warmup, got {SchedulerType(self.lr_scheduler_type).value}"
            )


def liger_available() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("liger_kernel") is not None


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
