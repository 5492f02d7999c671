"""What every training entry point (sft.train, grpo.train) does around its trainer: logging, resuming, starting
DeepSpeed's communication backend, loading a resumed full checkpoint correctly, saving, and leaving together."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import torch
import transformers
from transformers import PreTrainedModel
from transformers.trainer_utils import get_last_checkpoint

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def setup_logging(training_args: Any) -> None:
    """This project's messages at INFO on the main process (WARNING on the others); transformers at its
    --log_level / --log_level_replica."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    own = logging.INFO if training_args.should_log else logging.WARNING
    for name in ("common", "sft", "grpo", "__main__"):
        logging.getLogger(name).setLevel(own)


def resume_checkpoint(training_args: Any) -> str | None:
    """--resume_from_checkpoint wins; otherwise the newest checkpoint-* in output_dir, so a rerun of an interrupted
    job continues instead of starting over."""
    if training_args.resume_from_checkpoint:
        return training_args.resume_from_checkpoint
    if os.path.isdir(training_args.output_dir):
        last = get_last_checkpoint(training_args.output_dir)
        if last is not None:
            logger.info("resuming from %s (newest checkpoint in output_dir)", last)
            return last
    return None


def init_deepspeed_backend(training_args: Any) -> None:
    """Starts DeepSpeed's communication backend before any model loads. ZeRO-3 partitions weights while they load
    (zero.Init), so it needs the process group first; on GPUs accelerate starts it only when the trainer is built,
    after the models, and with use_cpu it starts plain torch.distributed, which zero.Init does not see (PLATFORM.md:
    DeepSpeed over gloo)."""
    if not training_args.deepspeed:
        return
    import deepspeed

    deepspeed.init_distributed(dist_backend="gloo" if training_args.use_cpu else "nccl")


def adapt_to_host(training_args: Any) -> None:
    """Call before TrainingArguments.__post_init__. The paper recipes are written for CUDA GPUs (bf16, tf32); on a
    host without CUDA transformers stops at its checks ("You need to assign use_cpu", "--tf32 requires Ampere"), so
    the CPU is chosen and tf32 dropped here, with one log line. bf16 stays: CPU autocast runs it (fast with AMX)."""
    import torch

    if torch.cuda.is_available() or _other_accelerator():
        return
    changed = []
    if not training_args.use_cpu:
        training_args.use_cpu = True
        changed.append("use_cpu true")
    if training_args.tf32:
        training_args.tf32 = None
        changed.append("tf32 off")
    if changed:
        logger.warning("no CUDA GPU on this host: %s (the recipe asks for a GPU)", ", ".join(changed))


def _other_accelerator() -> bool:
    from transformers.utils import is_torch_npu_available, is_torch_xla_available, is_torch_xpu_available

    return is_torch_xla_available() or is_torch_npu_available() or is_torch_xpu_available()


HALF_DTYPES = (torch.bfloat16, torch.float16)


def keep_fp32_master_weights(model: Any, training_args: Any) -> int:
    """Trainable bf16 / fp16 parameters become float32 master weights (returns how many tensors were cast).

    An optimizer that updates a bf16 weight in place rounds every step to bf16's 8-bit mantissa: an Adam step of
    lr 1e-5 is below half a unit in the last place for most weights, so it vanishes (measured on the 2B twin: one SFT
    step at lr 1e-5 changed 11.7 % of the parameters). Mixed precision keeps float32 weights and computes under bf16 /
    fp16 autocast (`bf16: true` / `fp16: true`); frozen weights stay in their loaded dtype. DeepSpeed's bf16 / fp16
    optimizers keep their own float32 copies, so nothing is cast under DeepSpeed. Training half-precision weights
    without autocast or DeepSpeed is refused: there is no float32 copy to update."""
    half = [p for p in model.parameters() if p.requires_grad and p.dtype in HALF_DTYPES]
    if not half:
        return 0
    if training_args.deepspeed:
        logger.info("DeepSpeed keeps float32 master weights of the %d trainable half-precision tensors", len(half))
        return 0
    dtype = half[0].dtype
    if not (training_args.bf16 or training_args.fp16):
        raise ValueError(
            f"{len(half)} trainable tensors are {dtype} but neither bf16 nor fp16 mixed precision nor DeepSpeed is "
            "on: the optimizer would update them in place and lose most updates to rounding. Set bf16: true "
            "(float32 master weights, bf16 compute), dtype float32, or use a DeepSpeed config"
        )
    for parameter in half:
        parameter.data = parameter.data.float()
    logger.info(
        "mixed precision without DeepSpeed: %d trainable %s tensors (%d parameters) kept as float32 master weights",
        len(half),
        dtype,
        sum(p.numel() for p in half),
    )
    return len(half)


def train_and_save(trainer: Any, training_args: Any, *, end: bool = True) -> str:
    """Train (resuming from resume_checkpoint), save the model, processor and trainer state to output_dir, and
    leave together (`finish`). Returns output_dir."""
    trainer.train(resume_from_checkpoint=resume_checkpoint(training_args))
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    finish(trainer, end=end)
    return training_args.output_dir


def finish(trainer: Any, *, end: bool = True) -> None:
    """All ranks leave together and (end=True) tear the process group down: a rank that exits while another still
    saves dies with SIGABRT in gloo's threads (seen on CPU), failing the launch although the model was saved.
    end=False keeps the group for another trainer in the same processes (grpo.stages)."""
    trainer.accelerator.wait_for_everyone()
    if end:
        trainer.accelerator.end_training()


class FullCheckpointResume:
    """Trainer mixin. transformers 5.24 resumes a full model with a plain `load_state_dict` of the checkpoint file,
    but `save_pretrained` writes Qwen2-VL's legacy key names (`visual.*`, `model.layers.*`), so on resume no weight
    matches and training silently restarts from the base weights with a "missing keys" warning
    (huggingface/transformers#43701, fix pending in #48822). Loading the checkpoint through `from_pretrained`
    applies the key conversion. DeepSpeed (its own checkpoint format) and PEFT adapters are not affected."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        model = self.model if model is None else model
        has_weights = any(os.path.isfile(os.path.join(resume_from_checkpoint, name)) for name in WEIGHT_FILES)
        if (
            self.is_deepspeed_enabled
            or self.is_fsdp_enabled
            or not isinstance(model, PreTrainedModel)
            or not has_weights
        ):
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            return
        saved = type(model).from_pretrained(resume_from_checkpoint, dtype=model.dtype)
        model.load_state_dict(saved.state_dict())  # strict: every weight must come back
        logger.info("loaded the model weights of %s", resume_from_checkpoint)
