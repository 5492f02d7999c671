"""Test helper: run a training entry point and press Ctrl-C (a real SIGINT to itself) right after it has saved one
checkpoint completely, as a user stops a run between two saves.

    python -m tests.interrupt_after_save STEP MODULE [ARGS ...]

Everything else is the unmodified entry point: its own handling of the interrupt is what the test reads. Run with -m
from the repository root: as a script, its folder (tests/) would come first on sys.path and its `sft` package would
shadow the project's.
"""

import os
import runpy
import signal
import sys

import transformers


def main() -> None:
    step, module, *args = sys.argv[1:]
    save_checkpoint = transformers.Trainer._save_checkpoint

    def save_then_interrupt(self, model, trial):
        save_checkpoint(self, model, trial)
        if self.state.global_step == int(step):
            os.kill(os.getpid(), signal.SIGINT)

    transformers.Trainer._save_checkpoint = save_then_interrupt
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
