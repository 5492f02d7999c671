"""Evaluation of every checkpoint a training run saves (`--eval_on_save TASKS`, sft.train and grpo.train).

On each save the main process writes the checkpoint's model card and evaluates the checkpoint with `eval.run` on
the chosen tasks, its results in the checkpoint folder itself (metrics.json, <task>/predictions.jsonl, report.md;
eval.run adds the headline metrics to the card). Locally the evaluation is a subprocess (`python -m eval.run`), one
at a time, while training goes on; the ones still queued or running when training ends are waited for. Under
SLURM (`auto` inside a job with `sbatch` on PATH, or `slurm`) each checkpoint is a job of scripts/slurm/eval.sbatch.
A failed evaluation never stops training: one warning line with its log path or the sbatch error.

The stage runs eval.run only as a command, never by import: stages do not import each other (tests/test_layers.py).
"""

from __future__ import annotations

import collections
import logging
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from common.provenance import RunInfo, write_model_card

logger = logging.getLogger(__name__)

LAUNCHERS = ("auto", "local", "slurm")
EVAL_SBATCH = Path(__file__).resolve().parent.parent / "scripts" / "slurm" / "eval.sbatch"
EVAL_LOG = "eval.log"
# What torchrun / accelerate / DeepSpeed tell a rank about its process group: an evaluation started from rank 0 is a
# process of its own, not a rank of the training group (eval.run shards over ranks when it sees them).
_GROUP_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK", "ROLE_WORLD_SIZE",
              "GROUP_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT",
              "TORCHELASTIC_MAX_RESTARTS", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_ERROR_FILE",
              "CROSS_RANK", "CROSS_SIZE", "LOCAL_SIZE")  # fmt: skip
_SUBMIT_TIMEOUT_S = 120


@dataclass
class EvalOnSaveArguments:
    """The eval-on-save switch, mixed into both stages' training arguments."""

    eval_on_save: str = field(
        default="",
        metadata={
            "help": "eval.run --tasks for every saved checkpoint (e.g. samdata, scorers, KEY[,KEY...]); empty: off. "
            "Results go into the checkpoint folder (metrics.json) and its model card; a failed evaluation is one "
            "warning line, never the end of training."
        },
    )
    eval_on_save_data_root: str | None = field(
        default=None, metadata={"help": "eval.run --data-root for --eval_on_save (required with it)."}
    )
    eval_on_save_args: str = field(
        default="",
        metadata={
            "help": "Further eval.run arguments for --eval_on_save, one shell-quoted string, e.g. "
            "'--limit 50 --max-new-tokens 256 --prompt-style tinyrs --reasoning --backend vllm'."
        },
    )
    eval_on_save_launcher: str = field(
        default="auto",
        metadata={
            "help": "How each checkpoint is evaluated: 'local' (a python -m eval.run subprocess, one at a time), "
            "'slurm' (sbatch scripts/slurm/eval.sbatch), 'auto' (slurm inside a SLURM job with sbatch on PATH, "
            "else local)."
        },
    )

    def __post_init__(self):
        if self.eval_on_save_launcher not in LAUNCHERS:
            raise ValueError(
                f"eval_on_save_launcher must be one of {', '.join(LAUNCHERS)}, got {self.eval_on_save_launcher!r}"
            )
        if self.eval_on_save and not self.eval_on_save_data_root:
            raise ValueError("eval_on_save needs eval_on_save_data_root (eval.run --data-root)")
        try:
            shlex.split(self.eval_on_save_args)
        except ValueError as exc:
            raise ValueError(
                f"eval_on_save_args {self.eval_on_save_args!r} is not a shell-quoted string ({exc})"
            ) from None
        super().__post_init__()


def eval_command(args: Any, checkpoint: str) -> list[str]:
    """eval.run's arguments for one checkpoint, its results written into the checkpoint folder."""
    return [
        "--model", checkpoint, "--tasks", args.eval_on_save, "--data-root", os.path.abspath(args.eval_on_save_data_root),
        "--output-dir", checkpoint, *shlex.split(args.eval_on_save_args),
    ]  # fmt: skip


def choose_launcher(requested: str) -> str:
    if requested != "auto":
        return requested
    return "slurm" if os.environ.get("SLURM_JOB_ID") and shutil.which("sbatch") else "local"


def _own_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _GROUP_ENV}


class EvalOnSave(TrainerCallback):
    """Evaluates each checkpoint as the Trainer saves it (main process only); see the module docstring."""

    def __init__(self, args: Any, run: RunInfo | None = None):
        self.args = args
        self.run = run
        self.launcher = choose_launcher(args.eval_on_save_launcher)
        self.queue: collections.deque[str] = collections.deque()
        self.running: tuple[str, subprocess.Popen, Path] | None = None
        self.outcomes: dict[str, str] = {}  # checkpoint -> "ok" | "failed" | "submitted <job id>"

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        # Absolute: the evaluation runs from the repository root (eval.sbatch too), not from the training's cwd.
        checkpoint = os.path.abspath(os.path.join(args.output_dir, f"checkpoint-{state.global_step}"))
        if not os.path.isdir(checkpoint):
            logger.warning("eval_on_save: %s not found after the save; not evaluated", checkpoint)
            return
        if self.run is not None:
            write_model_card(checkpoint, self.run)  # eval.run adds its metrics to the card it finds there
        if self.launcher == "slurm":
            self._submit(checkpoint)
        else:
            self.queue.append(checkpoint)
            self._pump()

    def on_step_end(self, args, state, control, **kwargs):
        if self.running is not None or self.queue:
            self._pump()

    def on_train_end(self, args, state, control, **kwargs):
        if self.running is not None or self.queue:
            logger.info("eval_on_save: waiting for the evaluation of %d checkpoint(s)", len(self.queue) + 1)
        while self.running is not None or self.queue:
            self._pump(wait=True)

    def _pump(self, wait: bool = False) -> None:
        if self.running is not None:
            checkpoint, process, log = self.running
            code = process.wait() if wait else process.poll()
            if code is None:
                return
            self.running = None
            if code == 0:
                self.outcomes[checkpoint] = "ok"
                logger.info("eval_on_save: %s evaluated: %s", checkpoint, os.path.join(checkpoint, "metrics.json"))
            else:
                self.outcomes[checkpoint] = "failed"
                logger.warning("eval_on_save: evaluation of %s failed (exit %d), log: %s", checkpoint, code, log)
        if self.running is None and self.queue:
            checkpoint = self.queue.popleft()
            log = Path(checkpoint) / EVAL_LOG
            command = [sys.executable, "-m", "eval.run", *eval_command(self.args, checkpoint)]
            try:
                with open(log, "w", encoding="utf-8") as handle:
                    process = subprocess.Popen(
                        command,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        env=_own_environment(),
                        cwd=EVAL_SBATCH.parents[2],
                    )
            except OSError as exc:
                self.outcomes[checkpoint] = "failed"
                logger.warning("eval_on_save: evaluation of %s could not start (%s)", checkpoint, exc)
                return
            logger.info("eval_on_save: evaluating %s (pid %d), log: %s", checkpoint, process.pid, log)
            self.running = (checkpoint, process, log)

    def _submit(self, checkpoint: str) -> None:
        log = os.path.join(checkpoint, "eval-%j.log")
        command = ["sbatch", "--parsable", f"--job-name=rs-r1-eval-{Path(checkpoint).name}", f"--output={log}",
                   str(EVAL_SBATCH), "eval.run", *eval_command(self.args, checkpoint)]  # fmt: skip
        # eval.sbatch runs the repository's .venv unless VENV says otherwise: the training interpreter's, here.
        env = {**_own_environment(), "VENV": sys.prefix}
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=EVAL_SBATCH.parents[2], timeout=_SUBMIT_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.outcomes[checkpoint] = "failed"
            logger.warning("eval_on_save: sbatch for %s failed (%s)", checkpoint, exc)
            return
        if done.returncode != 0:
            self.outcomes[checkpoint] = "failed"
            reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            logger.warning("eval_on_save: sbatch for %s failed: %s", checkpoint, reason)
            return
        job = done.stdout.strip().split(";")[0]
        self.outcomes[checkpoint] = f"submitted {job}"
        logger.info("eval_on_save: %s submitted as SLURM job %s, log: %s", checkpoint, job, log.replace("%j", job))
