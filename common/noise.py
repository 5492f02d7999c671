"""Known library noise, hidden in one place: what the pinned libraries print on every run that says nothing about
this run. Each filter names the library version that causes it and why hiding it loses nothing; each matches one
message (a regex) from one warning category / logger, so every other warning still shows. The entry points
(sft.train, grpo.train, grpo.stages, sft.merge_lora, eval.run, eval.score, eval.serve) call `quiet_known_noise()`
first thing in main(); a library import never does.

Not filterable here: transformers' `print("[INFO] Running in WANDB offline mode")` at import
(transformers/integrations/integration_utils.py, whenever WANDB_MODE=offline) is a bare print, neither a warning
nor a log record.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownWarning:
    """A `warnings.warn` message (regex, matched from its start) of one category, raised in `module`."""

    message: str
    category: type[Warning]
    module: str
    why: str


@dataclass(frozen=True)
class KnownLogRecord:
    """A log message (regex, matched from its start) of one logger."""

    message: str
    logger: str
    why: str


WARNINGS = (
    KnownWarning(
        r"`is_gradient_checkpointing` is deprecated",
        FutureWarning,
        r"transformers\.modeling_utils",
        "transformers 5.24 deprecated the property for `is_activation_checkpointing`, which it returns unchanged; "
        "TRL 1.16 still reads the old name in `_unwrap_model_for_generation` (trl/models/utils.py), once per GRPO "
        "generation step (59 times in `make demo`). Nothing for the user to change.",
    ),
    KnownWarning(
        r"`gradient_checkpointing(_kwargs)?` is deprecated",
        FutureWarning,
        r"transformers\.training_args",
        "transformers 5.24 renamed the field `activation_checkpointing` and maps the old name onto it (the same "
        "value). The recipes keep `gradient_checkpointing` on purpose: it is the only name transformers 5.17 "
        "(constraints-gpu.txt) accepts, and TRL 1.16's configs default it to true, so every GRPO run warned even "
        "with the field unset.",
    ),
)

LOG_RECORDS = (
    KnownLogRecord(
        r"Setting accelerator to CPU\. If you have GPU or other accelerator, we were unable to detect it\.",
        "DeepSpeed",
        "DeepSpeed 0.19.8 (deepspeed/accelerator/real_accelerator.py) logs it whenever torch sees no CUDA device, "
        "in every command that imports it through transformers or accelerate, DeepSpeed or not. A training run "
        "says the same thing in its own words (common.training.adapt_to_host: 'no CUDA GPU on this host').",
    ),
)


class _DropMessages(logging.Filter):
    """Drops the records of one logger whose message matches one of `patterns`."""

    def __init__(self, patterns: tuple[str, ...]):
        super().__init__()
        self.patterns = tuple(re.compile(pattern) for pattern in patterns)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(pattern.match(message) for pattern in self.patterns)


def quiet_known_noise() -> None:
    """Install the filters above (idempotent: a second call adds nothing)."""
    for known in WARNINGS:
        # filterwarnings drops an identical earlier entry before inserting, so calling again does not stack them.
        warnings.filterwarnings("ignore", message=known.message, category=known.category, module=known.module)
    by_logger: dict[str, tuple[str, ...]] = {}
    for record in LOG_RECORDS:
        by_logger[record.logger] = (*by_logger.get(record.logger, ()), record.message)
    for name, patterns in by_logger.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _DropMessages) for existing in logger.filters):
            logger.addFilter(_DropMessages(patterns))
