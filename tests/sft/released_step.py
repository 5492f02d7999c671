"""The two sides of the SFT one-step equality (tests/sft/test_released_step.py, SPEC 7.21-7.24).

`project_steps` runs sft.train's step: the recipe parsed by sft.train's parser (only sizes, the host and the data
overridden), sft.modeling.build_model, sft.trainer.PerModuleLRTrainer and its optimizer and schedule, recording the
gradient the optimizer receives and the learning rate of every parameter at each optimizer step.

`released_steps` is an independent reference of the step the released SFT run took (aybora/SAMChat `sft/`: 2U1's
QwenTrainer on transformers 4.49 and DeepSpeed 0.15.4, launched with its scripts/zero3_offload.json), restated from
reading that code:
- loss: 2U1's forward takes no loss kwargs, so each micro-batch's loss is the mean cross-entropy over its own
  supervised tokens; transformers 4.49 divides it by the accumulation steps (trainer.py:3732) and the data-parallel
  ranks average their gradients;
- clipping: gradient_clipping "auto" = max_grad_norm; the global L2 norm is scaled to it when above
  (factor max / (norm + 1e-6));
- optimizer: the config's AdamW block replaces 2U1's create_optimizer (transformers 4.49
  integrations/deepspeed.py:325-331), so one group holds every trained parameter at learning_rate, with decoupled
  weight decay on every weight, betas and eps from the arguments, bias-corrected moments;
- schedule: the WarmupLR block (log warm-up, minimum 0, peak learning_rate, W = max(2, ceil(warm-up ratio x
  steps))) starts at its minimum and is stepped after each optimizer step from iteration 0, so step t runs at
  learning_rate x ln(t - 1) / ln(W) (0 for t = 1, 2) up to learning_rate, then constant.

Run as a script under torchrun, `project_steps` writes rank 0's record to a file (the two-rank test).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from sft.data import SFTCollator, build_dataset, load_sft_processor
from sft.modeling import build_model
from sft.train import build_parser
from sft.trainer import PerModuleLRTrainer

# Sizes and host only: the step's settings all come from the recipe.
SIZES = ["--bf16", "false", "--tf32", "false", "--deepspeed", "", "--gradient_checkpointing", "false",
         "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2",
         "--train_sampling_strategy", "sequential", "--image_min_pixels", "3136", "--image_max_pixels", "3136",
         "--max_length", "512", "--report_to", "none", "--save_strategy", "no", "--logging_steps", "1",
         "--dataloader_num_workers", "0", "--seed", "0"]  # fmt: skip


def write_records(folder: Path, image_folder: Path, n: int = 12) -> Path:
    """`n` LLaVA records of unequal lengths, each with one image (the vision tower and merger get gradients)."""
    images = sorted(p.name for p in image_folder.glob("*.jpg"))
    records = [
        {
            "id": f"r{i}",
            "image": images[i % len(images)],
            "conversations": [
                {"from": "human", "value": "<image>\nDescribe the scene" + " please" * (i % 3)},
                {
                    "from": "gpt",
                    "value": " ".join(["ship", "harbour", "dock", "water"][j % 4] for j in range(1 + 5 * i % 17)),
                },
            ],
        }
        for i in range(n)
    ]
    path = folder / "records.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


class _Recorder(TrainerCallback):
    """The gradient and learning rate each optimizer step applies (after clipping, before the update)."""

    def __init__(self):
        self.steps: list[dict] = []
        self.model = None
        self.optimizer = None

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        lr_of = {id(p): group["lr"] for group in self.optimizer.param_groups for p in group["params"]}
        self.steps.append(
            {
                "grads": {n: p.grad.detach().clone() for n, p in self.model.named_parameters() if p.grad is not None},
                "lrs": {n: lr_of[id(p)] for n, p in self.model.named_parameters() if id(p) in lr_of},
            }
        )


def parse(recipe: str | Path, model_dir: Path, data_path: Path, image_folder: Path, output_dir: Path, extra=()):
    argv = ["--config", str(recipe), "--model_name_or_path", str(model_dir), "--data_path", str(data_path),
            "--image_folder", str(image_folder), "--output_dir", str(output_dir), *SIZES, *extra]  # fmt: skip
    return build_parser().parse_args_and_config(argv)


def _data(data_args, model_args):
    processor = load_sft_processor(data_args, model_args)
    dataset = build_dataset(data_args, processor)
    collator = SFTCollator.from_processor(processor, vision_pass_for_text_only=False, padding_free=False)
    return processor, dataset, collator


def micro_batches(args, count: int) -> list[dict]:
    """The first `count` micro-batches of two records each, in the order the sequential sampler deals them."""
    _, dataset, collator = _data(args[0], args[1])
    return [collator([dataset[i], dataset[i + 1]]) for i in range(0, 2 * count, 2)]


def project_steps(args, steps: int) -> dict:
    """`steps` optimizer steps of sft.train's trainer in float64; the initial and final weights and per-step records."""
    data_args, model_args, training_args = args
    training_args.max_steps = steps
    processor, dataset, collator = _data(data_args, model_args)
    # float64 so that 1e-6 is far above rounding for the updates as well as the gradients (an lr 1e-5 update is
    # below fp32's resolution of the weights); the dtype is the harness's, not the step's.
    model = build_model(model_args, training_args).to(torch.float64)
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    recorder = _Recorder()
    trainer = PerModuleLRTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        callbacks=[recorder],
    )
    recorder.model = model
    trainer.create_optimizer()
    recorder.optimizer = trainer.optimizer
    trainer.train()
    return {
        "initial": initial,
        "final": {n: p.detach().clone() for n, p in model.named_parameters()},
        "steps": recorder.steps,
        "trainable": [n for n, p in model.named_parameters() if p.requires_grad],
    }


def released_lr_factor(step: int, warmup: int) -> float:
    """WarmupLR's factor at optimizer step `step` (1-based): iteration step - 2, ln(iteration + 1) / ln(W)."""
    iteration = step - 2
    if iteration < 0:
        return 0.0  # before its first step() the scheduler sits at warmup_min_lr
    return math.log(iteration + 1) / math.log(warmup) if iteration < warmup else 1.0


def released_steps(model, initial: dict, batches: list, trainable: list, training_args, steps: int, ranks: int = 1):
    """The released step on `model` (loaded with `initial`), micro-batches in global order: each optimizer step takes
    ranks x GA of them; returns the per-step gradients and learning rates and the final weights."""
    accumulation = training_args.gradient_accumulation_steps
    lr, decay = training_args.learning_rate, training_args.weight_decay
    beta1, beta2, eps = training_args.adam_beta1, training_args.adam_beta2, training_args.adam_epsilon
    warmup = max(2, math.ceil(training_args.warmup_steps * steps))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(initial[name])
    params = dict(model.named_parameters())
    first = {n: torch.zeros_like(params[n]) for n in trainable}
    second = {n: torch.zeros_like(params[n]) for n in trainable}
    per_step = ranks * accumulation
    records = []
    model.train()
    for step in range(1, steps + 1):
        grads = {n: torch.zeros_like(params[n]) for n in trainable}
        for batch in batches[(step - 1) * per_step : step * per_step]:
            model.zero_grad(set_to_none=True)
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            logits = model(**inputs).logits
            labels = batch["labels"][:, 1:]
            loss = F.cross_entropy(logits[:, :-1].float().flatten(0, 1), labels.flatten(), ignore_index=-100)
            loss.backward()
            for n in trainable:
                if params[n].grad is not None:
                    # / GA on every rank, then the ranks' mean: one equal weight per micro-batch
                    grads[n] += params[n].grad / accumulation / ranks
        norm = math.sqrt(sum(float(g.pow(2).sum()) for g in grads.values()))
        scale = min(1.0, training_args.max_grad_norm / (norm + 1e-6))
        grads = {n: g * scale for n, g in grads.items()}
        step_lr = lr * released_lr_factor(step, warmup)
        records.append({"grads": grads, "lr": step_lr})
        with torch.no_grad():
            for n in trainable:
                g, p = grads[n], params[n]
                first[n].mul_(beta1).add_(g, alpha=1 - beta1)
                second[n].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p.mul_(1 - step_lr * decay)
                denom = (second[n] / (1 - beta2**step)).sqrt() + eps
                p.sub_(step_lr * first[n] / (1 - beta1**step) / denom)
    return {"steps": records, "final": {n: p.detach().clone() for n, p in model.named_parameters()}}


def relative_l2(a: dict, b: dict, names) -> float:
    """||a - b|| / ||b|| over the named tensors together; ||a - b|| itself where b is zero (an update at lr 0)."""
    diff = math.sqrt(sum(float((a[n] - b[n]).pow(2).sum()) for n in names))
    norm = math.sqrt(sum(float(b[n].pow(2).sum()) for n in names))
    return diff / norm if norm else diff


if __name__ == "__main__":
    # torchrun worker: python -m torch.distributed.run --nproc_per_node 2 -m tests.sft.released_step OUT.pt ARGV...
    out, argv = sys.argv[1], sys.argv[2:]
    parsed = build_parser().parse_args_and_config(argv)
    record = project_steps(parsed, steps=1)
    if parsed[2].process_index == 0:
        torch.save({k: record[k] for k in ("initial", "final", "steps", "trainable")}, out)
