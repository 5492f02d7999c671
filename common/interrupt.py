"""How every entry point ends on Ctrl-C: one line saying what the same command does when run again, exit status 130.

A KeyboardInterrupt left to Python prints a traceback of a hundred lines from inside torch / transformers and never
says that the run can go on. Every long-running entry point resumes when rerun: training from its newest complete
checkpoint (common.training.resume_hint), eval.run from the predictions it has written, grpo.stages from its finished
stages. Kept free of torch / TRL imports: eval.run uses it too.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

# The exit status of a command ended by Ctrl-C, as a shell reports it (128 + SIGINT).
INTERRUPTED = 130


def run_interruptible(body: Callable[[], int], *, command: str, next_run: Callable[[], str]) -> int:
    """body()'s exit status; a Ctrl-C (KeyboardInterrupt) ends it instead with one logged line, what running
    `command` again does (`next_run()`, evaluated then: e.g. the checkpoint it resumes from), and status 130."""
    try:
        return body()
    except KeyboardInterrupt:
        logger.warning("interrupted (Ctrl-C); %s: %s", next_run(), command)
        return INTERRUPTED


def command_line(prog: str, argv: Iterable[str]) -> str:
    """The command as a user retypes it: the module's `python -m ...` and its arguments, shell-quoted."""
    argv = list(argv)
    return f"{prog} {shlex.join(argv)}" if argv else prog
