"""Validation during GRPO: a held-out slice of a benchmark, scored by the benchmark's own scorer every `eval_steps`.

    python -m grpo.train --config configs/grpo/samchat_r1.yaml --val_task samdata \
        --val_data_root data/SAMData-300-Test --val_samples 64 --eval_steps 50

Every `eval_steps` optimizer steps (the TrainingArguments field; `logging_steps` when unset) the policy answers the
first `val_samples` rows of `val_task` greedily, in batches of `val_batch_size`, with the task's own prompts
(eval.tasks: `Task.messages`) through eval's batched generation (eval.generate / eval.backends), and the rows are
scored under both protocols (`Task.score`). The numbers go into the trainer's metrics, so every reporter
(TensorBoard, W&B, trainer_state.json's log_history) gets them with the step's log:
`val/<task>/<metric>` (paper protocol) and `val/<task>/strict/<metric>` (strict protocol), every numeric metric
the scorer returns (nested tables such as SAMData's per-category counts are left to `eval.run`). The predictions of
each validation are kept in `<output_dir>/validation/step-<N>/` (one folder per rank on several ranks).

Why not TRL's own evaluation: GRPOTrainer's eval loop samples G completions per `eval_dataset` prompt and logs the
rewards; a reward is not the benchmark's metric (SPEC 6: different answer reading, protocols, aggregates), and the
paper numbers are benchmark numbers. So `eval_strategy` stays "no" and no eval_dataset is passed.

Several ranks (DDP, DeepSpeed ZeRO-3): every rank answers its share of the rows (rows[rank::world]) with the
parameters gathered (TRL's `unwrap_model_for_generation`, as for its own rollouts), so no rank waits on another
during generation; the answered rows are then gathered and every rank scores the whole slice. Gathering the full
model on every rank costs what TRL's default `ds3_gather_for_generation` rollouts cost.

Off by default (no `val_task`), and in every paper recipe: the papers report no validation during GRPO.
The one sideways import in the stages (tests/test_layers.py, STAGE_EXCEPTIONS): this module imports eval at
function level, so that validation uses the benchmark's scorer and prompts rather than a copy that could drift.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

VALIDATION_DIR = "validation"


@dataclass
class ValidationArguments:
    """The validation flags of grpo.train (GRPOScriptArguments inherits them); validation is off without val_task."""

    val_task: str | None = field(
        default=None,
        metadata={
            "help": "Benchmark task key (eval.tasks, e.g. samdata) scored every eval_steps during GRPO, both "
            "protocols, logged as val/<task>/<metric>. None: no validation (the paper recipes)."
        },
    )
    val_data_root: str | None = field(
        default=None,
        metadata={"help": "The task's data as `eval.run --data-root` takes it (SAMData: the test image folder)."},
    )
    val_samples: int | None = field(default=64, metadata={"help": "The first N rows of the task (None: all of them)."})
    val_batch_size: int = field(default=8, metadata={"help": "Rows per generate call, per rank."})
    val_max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "New-token cap of each answer (None: the run's max_completion_length)."},
    )
    val_prompt_style: str | None = field(
        default=None, metadata={"help": "`eval.run --prompt-style` (only the ScoreRS tasks need one)."}
    )
    val_reasoning: bool = field(
        default=False, metadata={"help": "`eval.run --reasoning`: the R1 system prompt (ScoreRS, GeoVLM tasks)."}
    )

    def __post_init__(self) -> None:
        if self.val_task is None:
            return
        if not self.val_data_root:
            raise ValueError(f"val_task {self.val_task!r} needs val_data_root (the task's data)")
        for name in ("val_samples", "val_batch_size", "val_max_new_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")


@dataclass
class Slice:
    """A validation slice: the task record, its rows, and how they are asked and scored."""

    task: Any  # eval.tasks.Task
    rows: list[dict]
    prompt: Any  # eval.tasks.PromptOptions
    scoring: Any  # eval.tasks.ScoreOptions
    batch_size: int
    max_new_tokens: int


def load_slice(args: ValidationArguments, max_completion_length: int) -> Slice | None:
    """The held-out rows (None when validation is off), read before the model loads so bad data costs seconds.

    A row the task could not read stays in the slice as an error row, scored as the task's protocols score them."""
    if args.val_task is None:
        return None
    from eval.tasks import TASKS, PromptOptions, ScoreOptions

    if args.val_task not in TASKS:
        raise ValueError(f"val_task {args.val_task!r} is not an eval task; known: {', '.join(TASKS)}")
    task = TASKS[args.val_task]
    rows = task.load(args.val_data_root)[: args.val_samples]
    if not rows:
        raise ValueError(f"val_task {task.key}: no rows in {args.val_data_root}")
    logger.info("validation: %d rows of %s every eval_steps", len(rows), task.key)
    return Slice(
        task=task,
        rows=rows,
        prompt=PromptOptions(style=args.val_prompt_style, reasoning=args.val_reasoning),
        # ScoreRS grounding reads boxes in the syntax of the prompt style, as eval.run scores them. METEOR starts a
        # JVM per call (~10 s): left to eval.run, not paid at every validation.
        scoring=ScoreOptions(style=args.val_prompt_style or "tinyrs", reasoning=args.val_reasoning, meteor=False),
        batch_size=args.val_batch_size,
        max_new_tokens=args.val_max_new_tokens or max_completion_length,
    )


def numeric_metrics(prefix: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """`prefix/<name>` -> value for the top-level numbers of a scorer's result (bools and nested tables left out).

    >>> numeric_metrics("val/samdata", {"f1": 0.5, "tp": 3, "per_category": {}, "ok": True, "n": None})
    {'val/samdata/f1': 0.5, 'val/samdata/tp': 3.0}
    """
    return {
        f"{prefix}/{name}": float(value)
        for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def score_slice(task: Any, rows: list[dict], options: Any) -> dict[str, float]:
    """Both protocols' numeric metrics of answered rows: `val/<task>/<metric>` (paper), `val/<task>/strict/...`."""
    return {
        **numeric_metrics(f"val/{task.key}", task.score(rows, "paper", options)),
        **numeric_metrics(f"val/{task.key}/strict", task.score(rows, "strict", options)),
    }


class BenchmarkValidation(TrainerCallback):
    """Runs the slice every `eval_steps` at the end of an optimizer step and adds the scores to the trainer's
    metrics (TRL's `_metrics["train"]`, which `GRPOTrainer.log` averages into the next log, as it does for the
    judge's counts): calling `trainer.log` here would flush the step's training metrics into the validation entry."""

    def __init__(self, trainer: Any, validation: Slice):
        self.trainer = trainer
        self.validation = validation

    def on_step_end(self, args, state, control, **kwargs):
        # The state's steps: a fraction such as eval_steps 0.1 resolved against the run's length.
        every = args.eval_steps and state.eval_steps or state.logging_steps
        if every and state.global_step % int(every) == 0:
            metrics = self.run(state.global_step)
            self.trainer._metrics["train"].update({name: [value] for name, value in metrics.items()})
            # The step's log carries them only if it logs this step; make sure it does.
            control.should_log = True
        return control

    def run(self, step: int) -> dict[str, float]:
        """Answer this rank's share of the rows, gather every rank's answers, score the whole slice."""
        from accelerate.utils import gather_object
        from trl.models import unwrap_model_for_generation

        from eval.backends import HFBackend
        from eval.generate import PREDICTIONS, generate_task, read_predictions

        trainer, validation = self.trainer, self.validation
        accelerator = trainer.accelerator
        rank, world = accelerator.process_index, accelerator.num_processes
        folder = os.path.join(trainer.args.output_dir, VALIDATION_DIR, f"step-{step}")
        if world > 1:
            folder = os.path.join(folder, f"rank-{rank}")
        autocast = accelerator.autocast() if getattr(trainer, "autocast_generation", False) else nullcontext()
        with (
            unwrap_model_for_generation(
                trainer.model_wrapped,
                accelerator,
                gather_deepspeed3_params=True,
                gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
            ) as model,
            autocast,
        ):
            training = model.training
            try:
                # HFBackend: eval's greedy decoding with the task's stop tokens; it switches the model to eval mode.
                backend = HFBackend(model, trainer.processing_class)
                generate_task(
                    validation.task,
                    validation.rows[rank::world],
                    lambda: backend,
                    folder,
                    prompt=validation.prompt,
                    settings={"step": step, "task": validation.task.key},
                    batch_size=validation.batch_size,
                    max_new_tokens=validation.max_new_tokens,
                    force=True,
                )
            finally:
                model.train(training)
        answered = read_predictions(os.path.join(folder, validation.task.key, PREDICTIONS))
        order = {row["id"]: index for index, row in enumerate(validation.rows)}
        rows = sorted(gather_object(answered) if world > 1 else answered, key=lambda row: order[row["id"]])
        metrics = score_slice(validation.task, rows, validation.scoring)
        logger.info("validation at step %d: %s", step, metrics)
        return metrics


def add_validation(trainer: Any, validation: Slice | None) -> None:
    """Register the validation callback on a GRPO trainer (nothing when validation is off)."""
    if validation is not None:
        trainer.add_callback(BenchmarkValidation(trainer, validation))
