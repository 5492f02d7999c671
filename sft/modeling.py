"""What trains in the SFT stage: freeze flags, LoRA / DoRA / QLoRA, and the per-module optimizer groups (SPEC 3).

The flags (common.model_args, the names both stages share; set_trainable lives in common.modeling, as GRPO's full
fine-tuning applies it too) do what they say (upstream overrode the vision / merger flags under LoRA and never passed use_dora:
SPEC 7.4):
- full fine-tuning: the vision tower trains unless freeze_vision_tower, then the merger follows tune_merger (it
  sits inside the tower, so it is set after it), the language model and LM head train unless freeze_llm;
- LoRA (use_peft): adapters on every Linear / Embedding of the language model except `lora_exclude_modules` (and of
  the vision tower with vision_lora, the merger excepted while tune_merger trains it fully); the vision tower (when not
  frozen) and the merger (tune_merger) train fully through PEFT's `modules_to_save`, so the adapter checkpoint holds
  them and `merge_lora` writes them into the merged model.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from common.modeling import (
    PARTS,
    load_model,
    merger,
    model_dtype,
    module_name,
    part_of_parameters,
    resolve_attn_implementation,
    set_trainable,
    vision_tower,
)

logger = logging.getLogger(__name__)

# The attention implementation of padding-free training where flash-attention is absent (sdpa_varlen_attention).
SDPA_VARLEN = "sdpa_varlen"


def sdpa_varlen_attention(module: nn.Module, query, key, value, attention_mask, position_ids=None, **kwargs):
    """sdpa, one causal call per sample of a packed row (padding-free batches without flash-attention).

    transformers' own sdpa path gives a packed row a dense block-diagonal mask over the whole row, so its attention
    costs (sum of lengths)^2 instead of the sum of squares, and a packed batch of 16 runs slower than a padded one.
    This fills that gap with the cost flash-attention varlen has on GPU: a row whose text positions restart (the
    samples' boundaries, as transformers itself reads them) is split there and each sample attends causally to
    itself. Everything else (padded batches, generation with a cache, the vision tower) is plain sdpa."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", False) if causal is None else causal
    if causal and position_ids is not None and query.shape[0] == 1 and query.shape[2] == key.shape[2] > 1:
        positions = position_ids.reshape(-1)
        starts = ((torch.diff(positions) != 1).nonzero().reshape(-1) + 1).tolist()
        if starts:
            bounds = [0, *starts, query.shape[2]]
            rest = {k: v for k, v in kwargs.items() if k != "is_causal"}
            outputs = [
                sdpa_attention_forward(
                    module, *(t[:, :, a:b] for t in (query, key, value)), None, is_causal=True, **rest
                )[0]
                for a, b in zip(bounds[:-1], bounds[1:])
            ]
            return torch.cat(outputs, dim=1), None  # (batch 1, tokens, heads, head_dim), as sdpa returns
    return sdpa_attention_forward(module, query, key, value, attention_mask, position_ids=position_ids, **kwargs)


def register_sdpa_varlen() -> str:
    """Register `sdpa_varlen` with transformers' attention and mask interfaces (its masks are sdpa's: padded
    batches keep their padding mask) and return its name, for `attn_implementation`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(SDPA_VARLEN, sdpa_varlen_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(SDPA_VARLEN, sdpa_mask)
    return SDPA_VARLEN


def training_attn_implementation(requested: str, padding_free: bool) -> str:
    """The attention of a training run: padding-free batches use flash-attention varlen where it is available and
    `sdpa_varlen` where sdpa would be chosen; eager (block-diagonal mask) and explicit choices are kept."""
    resolved = resolve_attn_implementation(requested)
    if padding_free and resolved == "sdpa":
        return register_sdpa_varlen()
    return resolved


def lora_targets(model: nn.Module, model_args: Any) -> list[str]:
    """Upstream's target rule: every Linear / Embedding whose name contains none of the excluded substrings
    ("visual" added unless vision_lora), optionally only the last `num_lora_modules` of them."""
    exclude = list(model_args.lora_exclude_modules)
    tower_name = module_name(model, vision_tower(model))
    merger_name = module_name(model, merger(model))
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Embedding)) or any(part in name for part in exclude):
            continue
        in_tower = name.startswith(tower_name + ".")
        if in_tower and not model_args.vision_lora:
            continue
        if model_args.tune_merger and name.startswith(merger_name + "."):
            continue  # trained fully instead
        names.append(name)
    if model_args.num_lora_modules > 0:
        names = names[-model_args.num_lora_modules :]
    if not names:
        raise ValueError(f"no LoRA target modules left after excluding {exclude}")
    return names


def fully_trained_modules(model: nn.Module, model_args: Any) -> list[str]:
    """Modules PEFT keeps trainable beside the adapters: the tower's children (blocks one by one, so the tower's
    own forward still iterates a ModuleList) unless frozen, and the merger with tune_merger."""
    tower = vision_tower(model)
    tower_name = module_name(model, tower)
    merger_module = merger(model)
    names = []
    if not model_args.freeze_vision_tower:
        for child_name, child in tower.named_children():
            if child is merger_module or not any(True for _ in child.parameters()):
                continue
            if isinstance(child, nn.ModuleList):
                names += [f"{tower_name}.{child_name}.{i}" for i in range(len(child))]
            else:
                names.append(f"{tower_name}.{child_name}")
    if model_args.tune_merger:
        names.append(module_name(model, merger_module))
    return names


def lora_config(model: nn.Module, model_args: Any):
    from peft import LoraConfig

    return LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=lora_targets(model, model_args),
        modules_to_save=fully_trained_modules(model, model_args) or None,
        use_dora=model_args.use_dora,
        use_rslora=model_args.use_rslora,
        task_type="CAUSAL_LM",
    )


def quantization_config(model_args: Any, compute_dtype: torch.dtype):
    """QLoRA (load_in_4bit / load_in_8bit): bitsandbytes on CUDA; the vision tower and LM head stay unquantised
    (upstream)."""
    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return None
    bits = 4 if model_args.load_in_4bit else 8
    if not torch.cuda.is_available():
        raise ValueError(f"load_in_{bits}bit (QLoRA) needs a CUDA GPU with bitsandbytes; train unquantised on CPU")
    from transformers import BitsAndBytesConfig

    storage = (
        {}
        if model_args.bnb_4bit_quant_storage is None
        else {"bnb_4bit_quant_storage": model_args.bnb_4bit_quant_storage}
    )
    return BitsAndBytesConfig(
        load_in_4bit=model_args.load_in_4bit,
        load_in_8bit=model_args.load_in_8bit,
        llm_int8_skip_modules=["visual", "lm_head"],
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=model_args.use_bnb_nested_quant,
        bnb_4bit_quant_type=model_args.bnb_4bit_quant_type,
        **storage,
    )


def build_model(model_args: Any, training_args: Any) -> nn.Module:
    """Load the checkpoint and apply the trainable flags / adapters. Call after the training arguments exist, so
    that ZeRO-3 partitions the weights while they load."""
    dtype = model_dtype(model_args, training_args)
    kwargs: dict[str, Any] = {}
    quantization = quantization_config(model_args, dtype)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    model = load_model(
        model_args.model_name_or_path,
        dtype=dtype,
        attn_implementation=training_attn_implementation(
            model_args.attn_implementation, getattr(training_args, "padding_free", False)
        ),
        trust_remote_code=model_args.trust_remote_code,
        **kwargs,
    )
    model.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing
    if not model_args.use_peft:
        set_trainable(model, model_args)
        return model
    from peft import get_peft_model, prepare_model_for_kbit_training

    if quantization is not None:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=bool(training_args.gradient_checkpointing),
            gradient_checkpointing_kwargs=training_args.gradient_checkpointing_kwargs,
        )
    # PEFT freezes everything but the adapters and modules_to_save, which lora_config derived from the flags.
    return get_peft_model(model, lora_config(model, model_args))


def trainable_summary(model: nn.Module) -> dict[str, int]:
    """Trainable parameter counts per part, for the log line every run prints."""
    parts = part_of_parameters(model)
    counts = dict.fromkeys(PARTS, 0)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            counts[parts[name]] += parameter.numel()
    return counts


def param_groups(
    model: nn.Module,
    *,
    decay_names: set[str],
    learning_rate: float,
    vision_lr: float | None,
    merger_lr: float | None,
    weight_decay: float,
) -> list[dict]:
    """Optimizer groups: (vision tower without merger | merger | rest) x (decay | no decay), each with its rate;
    empty groups are left out. `decay_names` comes from the trainer (norms and biases excluded)."""
    rates = {"vision": vision_lr or learning_rate, "merger": merger_lr or learning_rate, "llm": learning_rate}
    parts = part_of_parameters(model)
    buckets: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            buckets.setdefault((parts[name], name in decay_names), []).append(parameter)
    groups = []
    for part in PARTS:
        for decay in (True, False):
            params = buckets.get((part, decay))
            if params:
                groups.append(
                    {
                        "params": params,
                        "lr": rates[part],
                        "weight_decay": weight_decay if decay else 0.0,
                        "name": f"{part}/{'decay' if decay else 'no_decay'}",
                    }
                )
    return groups
