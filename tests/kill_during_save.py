"""Test helper: run a training entry point and kill it with SIGKILL (kill -9: no handler, no cleanup, as SLURM
preemption or the OOM killer end a job) while it writes one checkpoint.

    python tests/kill_during_save.py STEP POINT MODULE [ARGS ...]

POINT `weights`: halfway through writing checkpoint-STEP/model.safetensors (its first half is on disk);
POINT `optimizer`: after the weights, as the optimizer state is about to be written.
The process dies by its own SIGKILL at that point; everything else is the unmodified entry point.
"""

import os
import runpy
import signal
import sys

import safetensors.torch
import transformers
import transformers.modeling_utils


def main() -> None:
    step, point, module, *args = sys.argv[1:]
    target = f"checkpoint-{step}"

    def in_target(folder: str) -> bool:
        return os.path.basename(os.path.normpath(folder)) == target

    if point == "weights":
        write_weights = transformers.modeling_utils.safe_save_file

        def save_file(tensors, filename, metadata=None):
            if not in_target(os.path.dirname(filename)):
                return write_weights(tensors, filename, metadata=metadata)
            data = safetensors.torch.save(tensors, metadata=metadata)
            with open(filename, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        transformers.modeling_utils.safe_save_file = save_file
    elif point == "optimizer":
        save_optimizer = transformers.Trainer._save_optimizer_and_scheduler

        def save_optimizer_and_scheduler(self, output_dir):
            if in_target(output_dir):
                os.kill(os.getpid(), signal.SIGKILL)
            return save_optimizer(self, output_dir)

        transformers.Trainer._save_optimizer_and_scheduler = save_optimizer_and_scheduler
    else:
        raise SystemExit(f"unknown POINT {point!r}: weights or optimizer")
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
