"""The one vocabulary of the model arguments (checkpoint, precision, attention, LoRA, quantisation, freezing) that
both training stages parse.

Canonical names are TRL's `trl.ModelConfig` fields (use_peft, lora_r, lora_alpha, lora_dropout, lora_target_modules,
lora_modules_to_save, use_dora, use_rslora, load_in_4bit / load_in_8bit, dtype, attn_implementation, ...), because
the GRPO stage hands them to stock TRL, plus what trains, defined here once: freeze_vision_tower, freeze_llm,
tune_merger, vision_lora, num_lora_modules, lora_exclude_modules. Pixel limits are image_min_pixels /
image_max_pixels in both stages' data arguments; --trust_remote_code is sft.configs.SFTModelArguments' field and, in
GRPO, trl.GRPOConfig's own (defining it twice would make the GRPO parser's flags collide).

`ModelArguments` subclasses `trl.ModelConfig`; each stage subclasses it once more (sft.configs.SFTModelArguments,
grpo.configs.GRPOModelArguments) to set the defaults of its paper code base and to reject, in one line, a field the
stage does not implement (`reject_unsupported`). A field means the same in both stages wherever both accept it.

The SAMChat / TinyRS SFT commands' older 2U1 names (--lora_enable, --lora_rank, --lora_namespan_exclude, --bits) are
aliases of these fields: common.flag_aliases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trl

# Upstream 2U1's default exclusions for LoRA targets: the output head and the token embedding stay dense.
DEFAULT_LORA_EXCLUDE = ("lm_head", "embed_tokens")


@dataclass
class ModelArguments(trl.ModelConfig):
    """trl.ModelConfig (the canonical names) with the project's freezing and LoRA-target fields, and dtype /
    attention implementation resolved by the project's rule ('auto'). Stages subclass it; see the module doc."""

    # TRL's defaults (float32, None) are replaced by "auto", with one meaning in both stages.
    dtype: str = field(
        default="auto",
        metadata={
            "help": "Weights dtype: 'auto' follows bf16 / fp16 of the training arguments, else float32; or "
            "bfloat16, float16, float32.",
            "choices": ["auto", "bfloat16", "float16", "float32"],
        },
    )
    attn_implementation: str = field(
        default="auto",
        metadata={"help": "'auto' (flash_attention_2 when CUDA and flash-attn are present, else sdpa), sdpa, eager."},
    )
    freeze_vision_tower: bool = field(
        default=False,
        metadata={
            "help": "Do not train the vision encoder (its merger excepted: tune_merger governs it). Full "
            "fine-tuning: the encoder's weights are frozen; LoRA: the encoder gets no adapters (SFT: and is not "
            "trained fully either)."
        },
    )
    freeze_llm: bool = field(default=False, metadata={"help": "Freeze the language model (and its LM head)."})
    tune_merger: bool = field(
        default=True,
        metadata={
            "help": "Train the vision-language merger fully; applied after freeze_vision_tower (the merger is "
            "inside the vision tower), so it wins for the merger's parameters."
        },
    )
    vision_lora: bool = field(
        default=False, metadata={"help": "SFT: LoRA on the vision tower too (needs use_peft and freeze_vision_tower)."}
    )
    num_lora_modules: int = field(
        default=-1, metadata={"help": "SFT: only the last N LoRA target modules get adapters (-1: all of them)."}
    )
    lora_exclude_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_EXCLUDE),
        metadata={
            "help": "SFT: module-name substrings never given LoRA ('visual' is added unless vision_lora); 2U1's "
            "--lora_namespan_exclude."
        },
    )

    def reject_unsupported(self, stage: str, unsupported: Mapping[str, str]) -> None:
        """A field of `unsupported` (name -> what to use instead) set away from its default fails, naming it."""
        defaults = _defaults(type(self))
        for name, instead in unsupported.items():
            if getattr(self, name) != defaults[name]:
                raise ValueError(f"{name}={getattr(self, name)!r}: not implemented by the {stage} stage; {instead}")


def _defaults(cls: type) -> dict[str, Any]:
    values = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
    return values
