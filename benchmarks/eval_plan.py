"""The planner's evaluation estimate (`python -m offline.plan --eval`) against a measured generation on this machine.

    python benchmarks/eval_plan.py [--model tiny|twin] [--images 4] [--batch-size 1] [--max-new-tokens 8]
    flock /tmp/rs_r1_heavy.lock python benchmarks/eval_plan.py --model twin --images 4 --max-new-tokens 8

Self-contained: builds the model (benchmarks/_models.py) and synthetic SAMData test images in a temporary folder,
measures their prompt tokens (`python -m eval.tokens`), calibrates the planner's two hardware figures on this CPU
(fp32 matmul FLOP/s at the model's MLP shape; memory bandwidth as a large fp32 matrix-vector product, which is what a
decoding step is), plans with them at 100 % utilisation and times the hf backend's generation of the same requests
(fp32, greedy). Calibration and generation are timed in CPU seconds per thread, which the other jobs on shared cores
disturb far less than wall time (printed too). The last line is `planned <s> measured <s> ratio <planned /
measured>`. Build the twin first (`python -m offline.twin --out DIR`, then --twin-dir DIR) for a peak RSS of the
evaluation alone.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from _models import add_model_arguments, prepare_model
from eval_batching import make_samdata

from common.data import load_image
from eval import tokens as eval_tokens
from eval.backends import HFBackend, Request
from eval.tasks import TASKS, PromptOptions
from offline import plan


def _timed(runs: int, work) -> tuple[float, float]:
    """(wall seconds, CPU seconds / threads) of the fastest of `runs` calls. On shared cores the wall time carries
    the other jobs' load; CPU time per thread is close to what the work takes on cores of its own."""
    import torch

    best = (float("inf"), float("inf"))
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        best = min(best, (time.perf_counter() - wall, (time.process_time() - cpu) / torch.get_num_threads()))
    return best


def calibrate(hidden: int, intermediate: int) -> tuple[float, float]:
    """(fp32 matmul TFLOP/s, memory GB/s) of this machine, as the planner takes them."""
    import torch

    x, w = torch.randn(256, hidden), torch.randn(hidden, intermediate)
    flops = 2 * 256 * hidden * intermediate / _timed(5, lambda: x @ w)[1]
    big = torch.randn(16384, 16384)  # 1 GiB: far larger than any cache
    v = torch.randn(16384)
    bandwidth = big.numel() * 4 / _timed(3, lambda: big @ v)[1]
    return flops / 1e12, bandwidth / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))  # shared CI machines: keep the load modest
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = prepare_model(args, Path(tmp))
        make_samdata(Path(tmp) / "samdata", args.images)
        tokens_file = Path(tmp) / "tokens.json"
        argv = ["--model", str(model_dir), "--tasks", "samdata", "--data-root", str(Path(tmp) / "samdata")]
        argv += ["--output", str(tokens_file), "--max-new-tokens", str(args.max_new_tokens), "--log-level", "WARNING"]
        if eval_tokens.main(argv) != 0:
            return 1
        config, _ = plan.model_config({}, str(model_dir))
        tflops, bandwidth = calibrate(config.text_config.hidden_size, config.text_config.intermediate_size)
        planned = plan.make_eval_plan(
            argparse.Namespace(
                eval=str(tokens_file), model=str(model_dir), gpus=1, gpu_memory=1e6, peak_tflops=tflops, mfu=1.0,
                memory_bandwidth=bandwidth, mbu=1.0, dtype="fp32", batch_size=args.batch_size,
                max_new_tokens=None, overhead_gb=0.0,
            )
        )  # fmt: skip

        task = TASKS["samdata"]
        rows = task.load(Path(tmp) / "samdata")
        backend = HFBackend.from_pretrained(str(model_dir), dtype="float32")
        requests = [Request(task.messages(row, PromptOptions()), load_image(row["image"])) for row in rows]
        options = {"max_new_tokens": args.max_new_tokens, "stop": task.stop}
        backend.generate(requests[:1], **options)  # warm-up (allocator, kernels)

        def generate_all() -> None:
            for i in range(0, len(requests), args.batch_size):
                backend.generate(requests[i : i + args.batch_size], **options)

        wall_s, measured_s = _timed(1, generate_all)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print("\n".join(planned.lines))
    print(f"calibrated: {tflops:.3f} TFLOP/s fp32 matmul, {bandwidth:.1f} GB/s; peak RSS {peak_gib:.1f} GiB "
          f"(planned memory {planned.memory_gib:.1f} GiB, without the process's own ~1 GiB)")  # fmt: skip
    print(f"generation: wall {wall_s:.1f} s, CPU time per thread {measured_s:.1f} s")
    print(f"planned {planned.seconds:.1f} measured {measured_s:.1f} ratio {planned.seconds / measured_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
