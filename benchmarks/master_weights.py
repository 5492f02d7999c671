"""Which trainable parameters does one optimizer step change, when a bf16 recipe trains without DeepSpeed?

    python benchmarks/master_weights.py --stage sft|grpo [--model DIR] [--lora] [--lr 1e-5] [--without-fix]
    python benchmarks/master_weights.py --stage sft --deepspeed configs/deepspeed/zero2.json   # DeepSpeed's masters
    flock /tmp/rs_r1_heavy.lock python benchmarks/master_weights.py --stage sft --model TWIN --lora   # the 2B twin

Runs the real entry point (sft.train.train / grpo.train.train) on the synthetic data for one step with `bf16: true`
and bf16 weights (SFT's dtype auto, GRPO's dtype bfloat16, as the paper recipes), no DeepSpeed, and compares every
trainable tensor before and after the step. `--without-fix` skips common.training.keep_fp32_master_weights, which
reproduces the code before the fix (AdamW updating bf16 weights in place). Without --model it builds the tiny model.
Last line: `changed <fraction of trainable parameters> of <count>, tensors <changed>/<total>, masters <dtypes>`.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import torch
from transformers import TrainerCallback

REPO = Path(__file__).resolve().parent.parent


def deepspeed_masters(optimizer) -> list[torch.Tensor]:
    """The float32 master partitions DeepSpeed's ZeRO optimizer updates (stage 1-2 / stage 3 attribute names)."""
    for name in ("single_partition_of_fp32_groups", "fp32_partitioned_groups_flat"):
        groups = getattr(optimizer, name, None)
        if groups:
            return list(groups)
    raise RuntimeError(f"{type(optimizer).__name__} exposes no float32 master partitions")


class Snapshot(TrainerCallback):
    """Copies the trainable tensors (under DeepSpeed: its float32 master partitions) when training starts and
    compares them when it ends."""

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.result: dict | None = None
        self.trainer = None

    def _tensors(self, model) -> dict[str, torch.Tensor]:
        if self.trainer is not None and self.trainer.is_deepspeed_enabled:
            masters = deepspeed_masters(self.trainer.model_wrapped.optimizer)
            return {f"deepspeed.master.{i}": t for i, t in enumerate(masters)}
        return {n: p for n, p in model.named_parameters() if p.requires_grad}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        tensors = self._tensors(model)
        self.before = {n: t.detach().clone() for n, t in tensors.items()}
        self.dtypes = sorted({str(t.dtype) for t in tensors.values()})

    def on_train_end(self, args, state, control, model=None, **kwargs):
        after = self._tensors(model)
        changed = total = changed_tensors = 0
        per_part: dict[str, list[int]] = {}
        for name, old in self.before.items():
            new = after[name].detach()
            diff = int((new.float() != old.float()).sum())
            part = (
                "vision"
                if ".visual." in f".{name}" and "merger" not in name
                else "merger"
                if "merger" in name
                else "llm"
            )
            per_part.setdefault(part, [0, 0])
            per_part[part][0] += diff
            per_part[part][1] += old.numel()
            changed += diff
            total += old.numel()
            changed_tensors += diff > 0
        self.result = {
            "changed": changed / total,
            "parameters": total,
            "tensors": (changed_tensors, len(self.before)),
            "masters": self.dtypes,
            "per_part": {part: c / n for part, (c, n) in per_part.items()},
        }


def run(
    stage: str, model_dir: Path, data_dir: Path, out: Path, lora: bool, lr: float, fix: bool, deepspeed: str | None
) -> dict:
    snapshot = Snapshot()
    if stage == "sft":
        import sft.train as entry

        folder = data_dir / "samdata" / "train"
        argv = ["--config", str(REPO / "configs/sft/demo.yaml"), "--model_name_or_path", str(model_dir),
                "--data_path", str(folder / "sam_300_reasoning_inst.json"), "--image_folder", str(folder),
                "--output_dir", str(out), "--report_to", "none", "--max_steps", "1", "--bf16", "true",
                "--learning_rate", str(lr), "--vision_lr", str(lr), "--merger_lr", str(lr), "--warmup_steps", "0",
                "--per_device_train_batch_size", "2", "--save_strategy", "no", "--max_length", "1024"]  # fmt: skip
        if lora:
            argv += ["--use_peft", "true", "--freeze_llm", "true", "--freeze_vision_tower", "true",
                     "--vision_lora", "true", "--tune_merger", "true"]  # fmt: skip
        argv += ["--deepspeed", deepspeed] if deepspeed else []
        data_args, model_args, training_args = entry.build_parser().parse_args_and_config(argv)
        trainer_class, call = entry.PerModuleLRTrainer, lambda: entry.train(data_args, model_args, training_args)
        attribute = "PerModuleLRTrainer"
    else:
        import grpo.train as entry

        argv = ["--config", str(REPO / "configs/grpo/demo.yaml"), "--model_name_or_path", str(model_dir),
                "--dataset_name", str(data_dir / "samdata" / "grpo"), "--output_dir", str(out), "--report_to", "none",
                "--max_steps", "1", "--bf16", "true", "--dtype", "bfloat16", "--learning_rate", str(lr),
                "--reward_funcs", "format", "completion_length", "--reward_weights", "1.0", "1.0",
                "--num_generations", "2", "--per_device_train_batch_size", "2", "--max_completion_length", "16",
                "--save_strategy", "no", "--beta", "0.001"]  # fmt: skip
        if lora:
            # The merger trains fully beside the adapters (modules_to_save): adapters are float32 in PEFT anyway.
            argv += ["--use_peft", "true", "--lora_r", "8", "--lora_target_modules", "q_proj", "v_proj",
                     "--lora_modules_to_save", "merger"]  # fmt: skip
        argv += ["--deepspeed", deepspeed] if deepspeed else []
        script_args, training_args, model_args = entry.parse_args(argv)
        trainer_class, call = entry.ResumableGRPOTrainer, lambda: entry.train(script_args, training_args, model_args)
        attribute = "ResumableGRPOTrainer"

    class Measured(trainer_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            snapshot.trainer = self
            self.add_callback(snapshot)

    setattr(entry, attribute, Measured)
    if not fix:
        entry.keep_fp32_master_weights = lambda model, args: 0
    call()
    return snapshot.result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=("sft", "grpo"), required=True)
    parser.add_argument("--model", type=Path, help="checkpoint (default: build the tiny model)")
    parser.add_argument("--lora", action="store_true", help="LoRA, with the merger trained fully (SFT: + vision LoRA)")
    parser.add_argument("--lr", type=float, help="learning rate (default: SFT 1e-5, GRPO 1e-6, as the recipes)")
    parser.add_argument("--without-fix", action="store_true", help="skip keep_fp32_master_weights (the old code)")
    parser.add_argument(
        "--deepspeed", help="a DeepSpeed config: compare its float32 master partitions instead (one rank, gloo)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.deepspeed:
        import os

        for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}.items():
            os.environ.setdefault(key, value)
        os.environ.setdefault("MASTER_PORT", "29517")
    lr = args.lr if args.lr is not None else (1e-5 if args.stage == "sft" else 1e-6)
    from offline.synthetic import generate
    from offline.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="rs_r1_master_") as tmp:
        tmp_path = Path(tmp)
        model = args.model or build_tiny_model(tmp_path / "tiny", seed=0)
        data = generate(tmp_path / "data", seed=0, size="small")
        result = run(args.stage, model, data, tmp_path / "out", args.lora, lr, not args.without_fix, args.deepspeed)
    parts = ", ".join(f"{part} {value:.3f}" for part, value in sorted(result["per_part"].items()))
    where = f"DeepSpeed {args.deepspeed}" if args.deepspeed else "no DeepSpeed"
    print(
        f"{args.stage} lr {lr:g} {'LoRA' if args.lora else 'full'} fix {not args.without_fix}, {where}: per part {parts}"
    )
    changed, total = result["tensors"]
    print(
        f"changed {result['changed']:.4f} of {result['parameters']:,}, tensors {changed}/{total}, "
        f"masters {','.join(result['masters'])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
