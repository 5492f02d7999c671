"""Plan a run before launching it: parameters, tokens, FLOPs, time and memory per GPU of a recipe on given hardware.

    python -m offline.plan --config configs/sft/samchat_distill.yaml --gpus 4 --gpu-memory 80
    python -m offline.plan --config configs/grpo/samchat_r1.yaml --gpus 4 --gpu-memory 80 --samples 300
    python -m offline.plan --config RECIPE.yaml --set use_peft=true --set image_max_pixels=401408 ...
    python -m offline.plan --eval TOKENS.json --gpus 4 --gpu-memory 80     # eval.run: see make_eval_plan

- parameters: the checkpoint's config (a local `model_name_or_path` or --model; otherwise Qwen2-VL-2B-Instruct's, as
  every paper model has it: offline.twin) on the meta device, total and trainable per part (vision / merger / llm)
  under the recipe's freeze and LoRA flags;
- tokens per sample: the image tokens measured with the real processor (offline.twin, the cached real tokenizer) at the
  recipe's pixel limits for an --image-size image, plus the chat template's text tokens and --reply-tokens (SFT) or
  max_completion_length (GRPO, the worst case); vision patches are 4x the merged image tokens;
- FLOPs per optimizer step: 2 per parameter and token forward, 4 more backward (2 when the weights are frozen: only
  input gradients), attention's 4 s d per token and layer; GRPO adds generation (prefill + decode forward) and the
  reference model's forward (beta > 0, without LoRA);
- time per epoch at --mfu (40 % by default) of --peak-tflops (989: H100 SXM dense bf16); generation is memory-bound
  and runs far below that MFU, so GRPO times are lower bounds;
- memory per GPU: model states from DeepSpeed's own estimators for the recipe's ZeRO stage (and offload), frozen
  weights at 2 bytes, float32 master weights + grads + Adam (16 bytes per trainable parameter) without DeepSpeed;
  activations from per-token / per-patch figures measured on the twin (benchmarks/twin_activations.py), plus a fixed
  --overhead-gb (CUDA context, allocator). Warns, with what to change, when it does not fit.

Evaluation (--eval, a `python -m eval.tokens` file of per-sample prompt tokens measured from the data): prefill and
vision FLOPs at the MFU, decoding memory-bound (each step reads the weights once per --batch-size rows plus its KV
cache, at --mbu of --memory-bandwidth), every reply at its task's max_new_tokens (an upper bound), the GPUs splitting
the batches as data-parallel eval.run does; memory = weights + KV cache of a batch at the longest sample + the
prefill's widest activations + overhead.

It lives in the offline kit, not in common/, because it builds the 2B twin's config and real processor
(offline.twin, offline.qwen_tokenizer) and no training or evaluation run calls it: common/ must not import the kit.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.flag_aliases import PAPER_GRPO_ALIASES, PAPER_SFT_ALIASES, translate_mapping

GIB = 2**30
# Measured on the 2B twin (benchmarks/twin_activations.py, bf16, sdpa, one sequence, forward + backward with frozen
# weights and inputs that require grad). Keyed by activation_checkpointing. Bytes per language-model token include the
# 151,936-way logits and their float32 loss copy; bytes per vision patch cover the 32 ViT blocks and the merger.
# Measured 2026-12-01 on 2 CPU cores (sdpa's math kernel there keeps attention probabilities, which flash-attention on
# a GPU does not: an upper bound for long image sequences).
ACTIVATION_BYTES_PER_TOKEN = {False: 4_543_264, True: 2_537_675}
ACTIVATION_BYTES_PER_PATCH = {False: 2_901_147, True: 911_323}
# Of the per-token figure, the 151,936-way logits and their loss (measured the same way on the tiny model with the
# real vocabulary, whose other activations are negligible). Liger's fused linear cross-entropy (use_liger_kernel, on
# GPUs) never materialises them.
LOGITS_BYTES_PER_TOKEN = 2_106_000
# TRL's ModelConfig / PEFT defaults for Qwen2 when a recipe names no targets.
PEFT_DEFAULT_TARGETS = ("q_proj", "v_proj")
SFT_DEFAULT_LORA_RANK = 64
GRPO_DEFAULT_LORA_RANK = 16
EVAL_DTYPE_BYTES = {"bf16": 2, "fp32": 4}


def load_recipe(path: str | Path, overrides: list[str]) -> tuple[str, dict]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read the recipe ({error})") from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        raw[key.strip()] = yaml.safe_load(value)
    stage = "grpo" if "num_generations" in raw or "reward_funcs" in raw else "sft"
    # The paper commands' names (SFT: lora_enable, lora_rank, bits, ...; GRPO: max_pixels, ...), as the stages read them.
    aliases = PAPER_SFT_ALIASES if stage == "sft" else PAPER_GRPO_ALIASES
    raw, _ = translate_mapping(raw, aliases, where=str(path))
    return stage, raw


def model_config(raw: dict, model: str | None):
    from transformers import AutoConfig

    source = model or raw.get("model_name_or_path")
    if source and Path(source).is_dir():
        return AutoConfig.from_pretrained(source), str(source)
    from offline.twin import build_config

    return build_config(), f"Qwen2-VL-2B-Instruct's config ({source or 'no model'} is not a local folder)"


@dataclass
class Parameters:
    total: dict[str, int]
    trainable: dict[str, int]  # fully trained weights + LoRA adapters, per part
    frozen: int  # base weights that do not train (LoRA adds adapters beside them)
    largest_layer: int

    @property
    def total_all(self) -> int:
        return sum(self.total.values())

    @property
    def trainable_all(self) -> int:
        return sum(self.trainable.values())


def _lora_count(model, names_match, rank: int) -> dict[str, int]:
    from torch import nn

    counts = {"vision": 0, "merger": 0, "llm": 0}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and names_match(name):
            counts[_part(name)] += rank * (module.in_features + module.out_features)
    return counts


def _part(name: str) -> str:
    if "merger" in name:
        return "merger"
    return "vision" if "visual" in name.split(".")[:3] else "llm"


def parameters(config: Any, stage: str, raw: dict) -> Parameters:
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    total = {"vision": 0, "merger": 0, "llm": 0}
    for name, parameter in model.named_parameters():
        total[_part(name)] += parameter.numel()
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    freeze_vision = bool(raw.get("freeze_vision_tower", False))
    # Full fine-tuning: the freeze flags mean the same in both stages (common.modeling.set_trainable).
    tune_merger = bool(raw.get("tune_merger", True))
    trainable = {
        "vision": 0 if freeze_vision else total["vision"],
        "merger": total["merger"] if tune_merger else 0,
        "llm": 0 if raw.get("freeze_llm", False) else total["llm"],
    }
    frozen = sum(total.values()) - sum(trainable.values())
    if stage == "sft":
        if raw.get("use_peft", False):
            rank = int(raw.get("lora_r", SFT_DEFAULT_LORA_RANK))
            vision_lora = bool(raw.get("vision_lora", False))

            def match(name: str) -> bool:
                part = _part(name)
                if "lm_head" in name or (part == "merger" and tune_merger):
                    return False
                return part == "llm" or (part == "vision" and vision_lora) or (part == "merger" and vision_lora)

            adapters = _lora_count(model, match, rank)
            trainable = {part: trainable[part] + adapters[part] for part in trainable}
    elif raw.get("use_peft"):
        rank = int(raw.get("lora_r", GRPO_DEFAULT_LORA_RANK))
        targets = raw.get("lora_target_modules") or PEFT_DEFAULT_TARGETS
        targets = [targets] if isinstance(targets, str) else list(targets)
        saved = raw.get("lora_modules_to_save") or []

        def match(name: str) -> bool:
            if freeze_vision and _part(name) != "llm":
                return False
            return name.rsplit(".", 1)[-1] in targets

        trainable = _lora_count(model, match, rank)
        frozen = sum(total.values())
        for part in ("vision", "merger"):
            if any(module in part for module in saved):
                trainable[part] += total[part]
                frozen -= total[part]
    return Parameters(total=total, trainable=trainable, frozen=frozen, largest_layer=largest)


@dataclass
class Tokens:
    text: int  # language-model tokens that are not image tokens
    image: int  # merged image tokens in the language model
    patches: int  # vision-tower patches (4 x image)

    @property
    def total(self) -> int:
        return self.text + self.image


def tokens_per_sample(stage: str, raw: dict, image_size: tuple[int, int], reply_tokens: int) -> Tokens:
    from PIL import Image

    from common import prompts
    from offline.twin import build_processor

    processor = build_processor()
    low, high = raw.get("image_min_pixels"), raw.get("image_max_pixels")
    size = processor.image_processor.size
    processor.image_processor.size = {
        "shortest_edge": low or size["shortest_edge"],
        "longest_edge": high or size["longest_edge"],
    }
    if stage == "grpo":
        system = raw.get("system_prompt") or prompts.SAMCHAT_GRPO_SYSTEM
        question = prompts.SAMDATA_PROMPT + prompts.SAMCHAT_GRPO_SUFFIX
    else:
        system, question = prompts.DEFAULT_SYSTEM, prompts.SAMDATA_PROMPT
    messages = [
        {"role": "system", "content": [{"type": "text", "text": system}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image = Image.new("RGB", image_size, (90, 120, 60))
    out = processor(text=[text], images=[image], return_tensors="pt")
    patches = int(out["image_grid_thw"].prod())
    image_tokens = patches // 4
    completion = int(raw.get("max_completion_length", 256)) if stage == "grpo" else reply_tokens
    return Tokens(text=int(out["input_ids"].shape[1]) - image_tokens + completion, image=image_tokens, patches=patches)


def _ds_config(raw: dict, recipe: Path) -> dict | None:
    path = raw.get("deepspeed")
    if not path:
        return None
    for candidate in (Path(path), recipe.parent.parent.parent / path):
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise ValueError(f"{recipe}: DeepSpeed config {path} not found")


def model_state_bytes(params: Parameters, ds: dict | None, gpus: int, reference: bool) -> tuple[float, str]:
    """Per-GPU bytes of weights, gradients and optimizer states; the second value names the estimator used."""
    trainable, frozen = params.trainable_all, params.frozen
    ref = params.total_all if reference else 0
    if ds is None:
        return 16 * trainable + 2 * frozen + 2 * ref, "no DeepSpeed: fp32 masters + grads + Adam (16 B), frozen bf16"
    zero = ds.get("zero_optimization", {})
    stage = int(zero.get("stage", 0))
    offload_opt = zero.get("offload_optimizer", {}).get("device") in ("cpu", "nvme")
    offload_param = zero.get("offload_param", {}).get("device") in ("cpu", "nvme")
    if stage == 3:
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

        _, gpu, _ = estimate_zero3_model_states_mem_needs(
            trainable, params.largest_layer, gpus, 1, cpu_offload=offload_opt, cpu_offload_params=offload_param
        )
        rest = 0 if offload_param else 2 * (frozen + ref) / gpus
        return (
            gpu + rest,
            f"DeepSpeed estimate_zero3_model_states_mem_needs (offload optimizer {offload_opt}, params {offload_param})",
        )
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    _, gpu = estimate_zero2_model_states_mem_needs(trainable, gpus, 1, cpu_offload=offload_opt)
    return gpu + 2 * (
        frozen + ref
    ), f"DeepSpeed estimate_zero2_model_states_mem_needs (offload optimizer {offload_opt})"


@dataclass
class Plan:
    lines: list[str]
    memory_gib: float
    fits: bool
    seconds: float | None = None  # the evaluation plan's wall time


def make_plan(args: argparse.Namespace) -> Plan:
    stage, raw = load_recipe(args.config, args.set)
    config, source = model_config(raw, args.model)
    params = parameters(config, stage, raw)
    width, height = (int(v) for v in args.image_size.lower().split("x"))
    tokens = tokens_per_sample(stage, raw, (width, height), args.reply_tokens)
    text_cfg, vision_cfg = config.text_config, config.vision_config
    # gradient_checkpointing is the name the recipes use (both transformers locks read it); activation_checkpointing,
    # transformers 5.24's new name, wins when it is given (e.g. `--set activation_checkpointing=false`).
    checkpointing = bool(raw.get("activation_checkpointing", raw.get("gradient_checkpointing")))
    micro = int(raw.get("per_device_train_batch_size", 8))
    accumulation = int(raw.get("gradient_accumulation_steps", 1))
    generations = int(raw.get("num_generations", 1)) if stage == "grpo" else 1
    per_step = micro * args.gpus * accumulation  # sequences (GRPO: completions) per optimizer step
    steps = math.ceil(args.samples * generations / per_step)

    # Tied embeddings: the LM head's matmul uses the embedding once per token, the lookup costs nothing.
    llm = params.total["llm"]
    vision = params.total["vision"] + params.total["merger"]
    train_llm = 6 if params.trainable["llm"] else 4
    train_vision = 6 if params.trainable["vision"] + params.trainable["merger"] else 2
    seq = tokens.total
    attention_llm = 4 * text_cfg.num_hidden_layers * text_cfg.hidden_size * seq * seq
    attention_vision = 4 * vision_cfg.depth * vision_cfg.embed_dim * tokens.patches**2
    per_sequence = (train_llm * llm * seq + train_llm / 2 * attention_llm
                    + train_vision * vision * tokens.patches + train_vision / 2 * attention_vision)  # fmt: skip
    flops = per_sequence * per_step
    if stage == "grpo":
        prompt = seq - int(raw.get("max_completion_length", 256))
        completion = seq - prompt
        generation = 2 * llm * (prompt + completion) + 2 * vision * tokens.patches
        reference = 2 * llm * seq if float(raw.get("beta", 0.0)) > 0 and not raw.get("use_peft") else 0
        flops += (generation + reference) * per_step
    seconds = flops * steps / (args.gpus * args.peak_tflops * 1e12 * args.mfu)

    ds = _ds_config(raw, Path(args.config))
    reference_copy = stage == "grpo" and float(raw.get("beta", 0.0)) > 0 and not raw.get("use_peft")
    states, estimator = model_state_bytes(params, ds, args.gpus, reference_copy)
    liger = bool(raw.get("use_liger_kernel"))
    per_token = ACTIVATION_BYTES_PER_TOKEN[checkpointing] - (LOGITS_BYTES_PER_TOKEN if liger else 0)
    activations = micro * (tokens.total * per_token + tokens.patches * ACTIVATION_BYTES_PER_PATCH[checkpointing])
    total = states + activations + args.overhead_gb * GIB
    fits = total <= args.gpu_memory * GIB

    def share(counts: dict[str, int]) -> str:
        return ", ".join(f"{part} {value / 1e6:,.1f}M" for part, value in counts.items())

    lines = [
        f"recipe     {args.config} ({stage}); model: {source}",
        f"hardware   {args.gpus} GPU(s) x {args.gpu_memory:g} GB, {args.peak_tflops:g} TFLOP/s peak, MFU {args.mfu:.0%}",
        f"parameters total {params.total_all:,} ({share(params.total)})",
        f"           trainable {params.trainable_all:,} ({share(params.trainable)})",
        f"tokens     per sample {tokens.total:,}: text {tokens.text:,} + image {tokens.image:,} "
        f"({width}x{height} px at pixel limits {raw.get('image_min_pixels') or 'default'}.."
        f"{raw.get('image_max_pixels') or 'default'}); "
        f"vision patches {tokens.patches:,}",
        f"step       {per_step} sequences ({micro} per GPU x {args.gpus} GPUs x {accumulation} accumulation"
        + (f"; {generations} completions per prompt" if stage == "grpo" else "")
        + f"), {flops / 1e12:,.1f} TFLOP per step",
        f"epoch      {args.samples:,} samples -> {steps:,} steps, {seconds / 3600:,.2f} h ({seconds / 60:,.1f} min)"
        + (" (lower bound: generation is memory-bound)" if stage == "grpo" else ""),
        f"memory     per GPU {total / GIB:,.1f} GiB = model states {states / GIB:,.1f} ({estimator}) "
        f"+ activations {activations / GIB:,.1f} (checkpointing {checkpointing}, Liger {liger}) "
        f"+ overhead {args.overhead_gb:g}",
    ]
    if not fits:
        lines.append(f"WARNING    {total / GIB:,.1f} GiB per GPU does not fit in {args.gpu_memory:g} GB. Options:")
        if activations > states:
            if not checkpointing:
                lines.append("           - gradient_checkpointing: true (activations ~3x smaller)")
            lines.append(f"           - per_device_train_batch_size {max(micro // 2, 1)} with gradient_accumulation_steps "
                         f"{accumulation * 2} (same step)")  # fmt: skip
            lines.append("           - a lower image_max_pixels (fewer image tokens and patches per sample)")
        else:
            lines.append("           - ZeRO-3 with CPU offload (configs/deepspeed/zero3_offload.json)")
            lines.append("           - LoRA (use_peft; SFT also freeze_llm)")
    return Plan(lines=lines, memory_gib=total / GIB, fits=fits)


def make_eval_plan(args: argparse.Namespace) -> Plan:
    """Time and memory of eval.run over the samples of a `python -m eval.tokens` file (SPEC: see the module doc)."""
    try:
        measured = json.loads(Path(args.eval).read_text(encoding="utf-8"))
        tasks = measured["tasks"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{args.eval}: not a python -m eval.tokens file ({error})") from None
    config, source = model_config({"model_name_or_path": measured.get("model")}, args.model)
    params = parameters(config, "sft", {})
    text_cfg, vision_cfg = config.text_config, config.vision_config
    llm, vision = params.total["llm"], params.total["vision"] + params.total["merger"]
    width = EVAL_DTYPE_BYTES[args.dtype]
    weights = params.total_all * width
    head_dim = text_cfg.hidden_size // text_cfg.num_attention_heads
    kv_per_token = 2 * text_cfg.num_hidden_layers * text_cfg.num_key_value_heads * head_dim * width
    flops_per_s = args.gpus * args.peak_tflops * 1e12 * args.mfu
    bytes_per_s = args.memory_bandwidth * 1e9 * args.mbu
    batch = args.batch_size
    seconds = longest = most_patches = 0.0
    lines_tasks = []
    for key, task in tasks.items():
        new = args.max_new_tokens or int(task["max_new_tokens"])
        prompts = [t + i for t, i in zip(task["text_tokens"], task["image_tokens"])]
        flops = decode_bytes = 0.0
        for prompt, patches in zip(prompts, task["patches"]):
            # Prefill: the forward of the prompt and the vision tower; decoding: a forward per new token.
            flops += (
                2 * llm * (prompt + new)
                + 4 * text_cfg.num_hidden_layers * text_cfg.hidden_size * (prompt + new) ** 2
                + 2 * vision * patches
                + 4 * vision_cfg.depth * vision_cfg.embed_dim * patches**2
            )
            # Decoding is memory-bound: each step reads the weights once for the whole batch and its own KV cache.
            decode_bytes += new * (weights / batch + kv_per_token * (prompt + new / 2))
        # The GPUs split the batches (eval.shard): compute and memory time add, each spread over the GPUs.
        task_s = flops / flops_per_s + decode_bytes / (bytes_per_s * args.gpus)
        seconds += task_s
        if prompts:
            longest = max(longest, max(prompts) + new)
            most_patches = max(most_patches, max(task["patches"]))
        lines_tasks.append(f"  {key:<28} {len(prompts):>6,} samples, prompt {sum(prompts) / max(len(prompts), 1):>7,.0f} "
                           f"tokens on average, {new} new: {task_s / 60:,.1f} min")  # fmt: skip
    # Memory per GPU: the weights, the KV cache of a full batch at the longest sample, the prefill's widest
    # activations (the MLP's gate and up projections of a batch; the vision tower's for the largest image set).
    kv = batch * longest * kv_per_token
    activations = width * max(
        batch * longest * 2 * text_cfg.intermediate_size,
        most_patches * vision_cfg.embed_dim * 4 * 2,
    )
    total = weights + kv + activations + args.overhead_gb * GIB
    fits = total <= args.gpu_memory * GIB
    samples = sum(len(task["text_tokens"]) for task in tasks.values())
    lines = [
        f"evaluation {args.eval}: {len(tasks)} task(s), {samples:,} samples; model: {source}",
        f"hardware   {args.gpus} GPU(s) x {args.gpu_memory:g} GB, {args.peak_tflops:g} TFLOP/s peak at MFU "
        f"{args.mfu:.0%}, {args.memory_bandwidth:g} GB/s at {args.mbu:.0%}; {args.dtype} weights, batch {batch}",
        *lines_tasks,
        f"time       {seconds / 3600:,.2f} h ({seconds / 60:,.1f} min) with every reply at max_new_tokens "
        "(an upper bound: replies stop at their end token), model loading not included",
        f"memory     per GPU {total / GIB:,.1f} GiB = weights {weights / GIB:,.1f} + KV cache {kv / GIB:,.1f} "
        f"(batch {batch} x {longest:,.0f} tokens) + activations {activations / GIB:,.1f} + overhead {args.overhead_gb:g}",
    ]
    if not fits:
        lines.append(f"WARNING    {total / GIB:,.1f} GiB per GPU does not fit in {args.gpu_memory:g} GB: a smaller "
                     "--batch-size, or --backend vllm --tensor-parallel-size 2")  # fmt: skip
    return Plan(lines=lines, memory_gib=total / GIB, fits=fits, seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="an SFT or GRPO recipe (configs/sft/*.yaml, configs/grpo/*.yaml)")
    group = parser.add_argument_group("evaluation (--eval instead of --config)")
    group.add_argument("--eval", metavar="TOKENS.json", help="plan eval.run over a `python -m eval.tokens` file")
    group.add_argument("--batch-size", type=int, default=8, help="sequences generated together (eval.run's hf default)")
    group.add_argument("--max-new-tokens", type=int, default=None, help="override every task's max_new_tokens")
    group.add_argument("--memory-bandwidth", type=float, default=3350.0, help="GB/s per GPU (H100 SXM 3350)")
    group.add_argument("--mbu", type=float, default=0.6, help="memory bandwidth utilisation assumed (default 0.6)")
    group.add_argument("--dtype", choices=sorted(EVAL_DTYPE_BYTES), default="bf16", help="weights and KV cache")
    parser.add_argument("--gpus", type=int, default=4, help="GPUs (data-parallel ranks)")
    parser.add_argument("--gpu-memory", type=float, default=80.0, help="GiB per GPU (an 80 GB H100 / A100 has ~79.6)")
    parser.add_argument(
        "--peak-tflops", type=float, default=989.0, help="dense bf16 peak per GPU (H100 SXM 989, A100 312)"
    )
    parser.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation assumed (default 0.4)")
    parser.add_argument("--samples", type=int, default=1000, help="training samples (prompts for GRPO) per epoch")
    parser.add_argument("--image-size", default="1024x1024", help="WIDTHxHEIGHT of a typical image")
    parser.add_argument("--reply-tokens", type=int, default=256, help="SFT: reply tokens per sample")
    parser.add_argument(
        "--overhead-gb", type=float, default=1.5, help="fixed per-GPU overhead (CUDA context, allocator)"
    )
    parser.add_argument("--model", help="checkpoint folder whose config to plan for (default: the recipe's, or the 2B)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    args = parser.parse_args(argv)
    if (args.config is None) == (args.eval is None):
        parser.error("give a recipe (--config) or an evaluation (--eval TOKENS.json)")
    from offline.qwen_tokenizer import TokenizerUnavailable

    try:
        plan = make_plan(args) if args.config else make_eval_plan(args)
    except (ValueError, TokenizerUnavailable) as error:
        print(f"error: {error}")  # noqa: T201 - CLI output
        return 1
    print("\n".join(plan.lines))  # noqa: T201 - CLI output
    return 0 if plan.fits else 2


if __name__ == "__main__":
    raise SystemExit(main())
