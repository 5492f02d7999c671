"""kill -9 during a DeepSpeed ZeRO-3 checkpoint save (2 CPU ranks over gloo): the same command again passes over the
cut checkpoint, resumes from the newest complete one and ends with an uninterrupted run's weights, bit for bit."""

import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow


def torchrun(repo_root, torch_extensions_dir, *args):
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(torch_extensions_dir), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)


def test_kill_9_during_a_zero3_save_then_the_same_command_resumes_exactly(
    repo_root, tiny_model_dir, synthetic_dir, tmp_path, torch_extensions_dir
):
    folder = synthetic_dir / "samdata" / "train"

    def args(out):
        return ["--config", str(repo_root / "configs/sft/demo.yaml"), "--model_name_or_path", str(tiny_model_dir),
                "--output_dir", str(out), "--report_to", "none", "--data_path",
                str(folder / "sam_300_reasoning_inst.json"), "--image_folder", str(folder),
                "--deepspeed", "configs/deepspeed/zero3.json", "--max_steps", "4", "--save_steps", "2",
                "--save_total_limit", "5", "--per_device_train_batch_size", "1"]  # fmt: skip

    full, killed = tmp_path / "full", tmp_path / "killed"
    done = torchrun(repo_root, torch_extensions_dir, "-m", "sft.train", *args(full))
    assert done.returncode == 0, done.stderr[-4000:]
    # Both ranks SIGKILL themselves as checkpoint-4's DeepSpeed engine state is about to be written (the gathered
    # 16-bit weights are on disk); torchrun then fails the launch.
    cut = torchrun(repo_root, torch_extensions_dir, "tests/kill_during_save.py", "4", "optimizer", "sft.train",
                   *args(killed))  # fmt: skip
    assert cut.returncode != 0 and "Signal 9 (SIGKILL)" in cut.stderr, cut.stderr[-4000:]
    left = {path.name for path in (killed / "checkpoint-4").iterdir()}
    assert "model.safetensors" in left and not left & {"latest", "trainer_state.json"}
    rerun = torchrun(repo_root, torch_extensions_dir, "-m", "sft.train", *args(killed))
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert f"skipping {killed / 'checkpoint-4'}, an incomplete checkpoint" in rerun.stderr
    assert "no DeepSpeed 'latest' file" in rerun.stderr
    assert f"resuming from {killed / 'checkpoint-2'} (newest complete checkpoint" in rerun.stderr
    a, b = load_file(full / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[name] - b[name]).abs().max().item() for name in a) == 0.0
