"""What every training entry point (sft.train, grpo.train) does around its trainer: logging, resuming, starting
DeepSpeed's communication backend, loading a resumed full checkpoint correctly, saving, and leaving together."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import transformers
from transformers import PreTrainedModel
from transformers.trainer_utils import get_last_checkpoint

from common.provenance import RunInfo, write_model_card, write_run_record

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


def train_and_save(trainer: Any, training_args: Any, *, end: bool = True, run: RunInfo | None = None) -> str:
    """Train (resuming from resume_checkpoint), save the model, processor and trainer state to output_dir, and
    leave together (`finish`). With `run`, the main process records the launch before training and writes the
    model card after saving (common.provenance). Returns output_dir."""
    if run is not None and trainer.is_world_process_zero():
        write_run_record(training_args.output_dir, run)
    trainer.train(resume_from_checkpoint=resume_checkpoint(training_args))
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    if run is not None and trainer.is_world_process_zero():
        write_model_card(training_args.output_dir, run)
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
