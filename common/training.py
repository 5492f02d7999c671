"""What every training entry point (sft.train, grpo.train) does around its trainer: logging, checking output_dir,
resuming from the newest complete checkpoint, starting DeepSpeed's communication backend, loading a resumed full
checkpoint correctly, saving, and leaving together."""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import sys
import tempfile
import zipfile
from typing import Any

import torch
import transformers
from transformers import PreTrainedModel

from common.eval_on_save import EvalOnSave
from common.provenance import RunInfo, write_model_card, write_run_record

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
# What a checkpoint must hold to resume from, besides an intact trainer_state.json: weights of one of these kinds,
# full model (with config.json) or adapter (with adapter_config.json), as the Trainer writes them.
FULL_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")  # transformers' PREFIX_CHECKPOINT_DIR naming
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's (default) zip format


class TrainingSetupError(RuntimeError):
    """A run that cannot start where it was told to: output_dir unusable, or the checkpoint to resume from
    incomplete. `str(e)` is one line for the log; the entry points exit 1 with it, before any model loads."""


def setup_logging(training_args: Any) -> None:
    """This project's messages at INFO on the main process (WARNING on the others); transformers at its
    --log_level / --log_level_replica."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    own = logging.INFO if training_args.should_log else logging.WARNING
    for name in ("common", "sft", "grpo", "__main__"):
        logging.getLogger(name).setLevel(own)


def check_output_dir(path: str | os.PathLike) -> None:
    """Raise TrainingSetupError unless `path` is a folder this process can write (created when missing).

    The Trainer first writes to output_dir at its first checkpoint, hours into a paper recipe; a file probe now
    finds a read-only mount, a missing permission or a path under a file before the model loads. Every rank probes
    (each writes its own RNG state and DeepSpeed shards there); the probe file has a unique name and is removed.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise TrainingSetupError(f"output_dir {path} is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        parent = os.path.dirname(os.path.abspath(path))
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise TrainingSetupError(f"output_dir {path} cannot be created: {parent} is a file, not a folder") from None
        raise TrainingSetupError(f"output_dir {path} cannot be created in {parent} ({exc.strerror or exc})") from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        raise TrainingSetupError(f"output_dir {path} is not writable ({exc.strerror or exc})") from None


def _json_problem(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            json.load(handle)
    except (OSError, ValueError) as exc:
        return f"{os.path.basename(path)} unreadable ({exc})"
    return None


def _safetensors_problem(path: str) -> str | None:
    """A safetensors file is an 8-byte header length, a JSON header and the tensor data the header accounts for:
    a write cut short leaves fewer bytes than the header promises."""
    name = os.path.basename(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (OSError, ValueError, struct.error, AttributeError, KeyError, TypeError, IndexError) as exc:
        return f"{name} unreadable ({type(exc).__name__}: {exc})"
    expected = 8 + length + max(ends, default=0)
    if size < expected:
        return f"{name} cut short ({size} of {expected} bytes)"
    return None


def _torch_file_problem(path: str) -> str | None:
    """torch.save writes a zip archive whose directory is its last record: a write cut short has none. Files in
    torch's legacy (non-zip) format are not checked."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if not magic:
            return f"{name} is empty"
        if magic == _ZIP_MAGIC:
            zipfile.ZipFile(path).close()
    except (OSError, zipfile.BadZipFile) as exc:
        return f"{name} cut short or unreadable ({exc})"
    return None


def checkpoint_problems(folder: str | os.PathLike, training_args: Any) -> list[str]:
    """Why a checkpoint folder cannot be resumed from exactly ([] = complete).

    The Trainer writes a checkpoint in this order: weights (+ config), optimizer and scheduler (DeepSpeed: its
    global_step* folder and `latest`), RNG states, and trainer_state.json last; a kill at any point (SLURM
    preemption, OOM killer) leaves a folder that `get_last_checkpoint` still picks. Complete means: trainer_state.json
    parses; model weights with their config (or an adapter with adapter_config.json); unless save_only_model,
    optimizer and scheduler state and at least one RNG state file; and every JSON, safetensors and torch file in the
    folder is whole (checked from its own structure, without loading tensors).
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return ["not a folder"]
    problems: list[str] = []
    names = set(os.listdir(folder))
    if "trainer_state.json" not in names:
        problems.append("no trainer_state.json (written last: the save did not finish)")
    deepspeed_dir = None
    if "latest" in names:
        try:
            with open(os.path.join(folder, "latest"), encoding="utf-8") as handle:
                tag = handle.read().strip()
        except (OSError, UnicodeDecodeError):
            tag = ""
        deepspeed_dir = os.path.join(folder, tag)
        if not tag or not os.path.isdir(deepspeed_dir):
            problems.append(f"'latest' names {tag!r}, which is not a folder here")
            deepspeed_dir = None
    elif getattr(training_args, "deepspeed", None):
        problems.append("no DeepSpeed 'latest' file (its engine state was not saved)")
    has_full = any(name in names for name in FULL_WEIGHTS)
    has_adapter = any(name in names for name in ADAPTER_WEIGHTS)
    if not (has_full or has_adapter or deepspeed_dir):
        problems.append(f"no model weights (none of {', '.join(FULL_WEIGHTS + ADAPTER_WEIGHTS)})")
    if has_full and "config.json" not in names:
        problems.append("no config.json beside the model weights")
    if has_adapter and "adapter_config.json" not in names:
        problems.append("no adapter_config.json beside the adapter weights")
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if index_name in names and _json_problem(os.path.join(folder, index_name)) is None:
            with open(os.path.join(folder, index_name), encoding="utf-8") as handle:
                shards = sorted(set(json.load(handle).get("weight_map", {}).values()))
            missing = [shard for shard in shards if shard not in names]
            if missing:
                problems.append(f"weight shard(s) missing: {', '.join(missing)}")
    if not getattr(training_args, "save_only_model", False):
        # Under DeepSpeed the engine's folder holds the optimizer (and, when it runs the schedule, the scheduler).
        if deepspeed_dir is None and "optimizer.pt" not in names:
            problems.append("no optimizer.pt")
        if deepspeed_dir is None and "scheduler.pt" not in names:
            problems.append("no scheduler.pt")
        if not any(name.startswith("rng_state") and name.endswith(".pth") for name in names):
            problems.append("no rng_state*.pth")
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.endswith(".json"):
                problem = _json_problem(path)
            elif name.endswith(".safetensors"):
                problem = _safetensors_problem(path)
            elif name.endswith((".pt", ".pth", ".bin")):
                problem = _torch_file_problem(path)
            else:
                continue
            if problem:
                problems.append(problem if root == folder else f"{os.path.relpath(root, folder)}/{problem}")
    return problems


def resume_checkpoint(training_args: Any) -> str | None:
    """--resume_from_checkpoint wins (TrainingSetupError when it is incomplete); otherwise the newest complete
    checkpoint-* in output_dir, so a rerun of an interrupted job continues instead of starting over. Newer
    incomplete ones (a kill during their save) are passed over with a warning and left in place: the run writes
    that step's checkpoint again when it gets there."""
    if training_args.resume_from_checkpoint:
        path = training_args.resume_from_checkpoint
        problems = checkpoint_problems(path, training_args)
        if problems:
            raise TrainingSetupError(f"--resume_from_checkpoint {path} is incomplete: {'; '.join(problems)}")
        return path
    return _newest_complete_checkpoint(training_args, log=True)


def _newest_complete_checkpoint(training_args: Any, *, log: bool) -> str | None:
    if not os.path.isdir(training_args.output_dir):
        return None
    found = [(int(m.group(1)), name) for name in os.listdir(training_args.output_dir) if (m := _CHECKPOINT.match(name))]
    for _, name in sorted(found, reverse=True):
        path = os.path.join(training_args.output_dir, name)
        if not os.path.isdir(path):
            continue
        problems = checkpoint_problems(path, training_args)
        if not problems:
            if log:
                logger.info("resuming from %s (newest complete checkpoint in output_dir)", path)
            return path
        if log:
            logger.warning("skipping %s, an incomplete checkpoint (a save cut short?): %s", path, "; ".join(problems))
    return None


def resume_hint(training_args: Any) -> str:
    """What the same command does when run again, as resume_checkpoint will decide it, for the line a run stopped
    by Ctrl-C ends with (common.interrupt.run_interruptible, through common.cli.run_stage)."""
    explicit = training_args.resume_from_checkpoint
    newest = _newest_complete_checkpoint(training_args, log=False)
    if explicit:
        also = f"; without --resume_from_checkpoint, from {newest}" if newest and newest != explicit else ""
        return f"the same command resumes from {explicit} again{also}"
    if newest:
        return f"the same command resumes from {newest}"
    return f"no complete checkpoint in {training_args.output_dir} yet: the same command starts over"


def prepare_run(training_args: Any) -> None:
    """The checks that must pass before any data or model loads: output_dir writable, an explicit
    --resume_from_checkpoint complete."""
    check_output_dir(training_args.output_dir)
    if training_args.resume_from_checkpoint:
        resume_checkpoint(training_args)


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


def train_and_save(trainer: Any, training_args: Any, *, end: bool = True, run: RunInfo | None = None) -> str:
    """Train (resuming from resume_checkpoint), save the model, processor and trainer state to output_dir, and
    leave together (`finish`). With `run`, the main process records the launch before training and writes the
    model card after saving (common.provenance). With --eval_on_save, every checkpoint is evaluated as it is saved
    (common.eval_on_save). Returns output_dir."""
    if run is not None and trainer.is_world_process_zero():
        write_run_record(training_args.output_dir, run)
    if getattr(training_args, "eval_on_save", ""):
        trainer.add_callback(EvalOnSave(training_args, run))
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
