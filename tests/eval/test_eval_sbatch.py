"""scripts/slurm/eval.sbatch's dry run: one eval.run process per GPU of the node under torchrun, GPUs / tensor
parallel size with vLLM; a dry run without GPUs shows the launch of the script's #SBATCH --gpus-per-node line."""

import os
import subprocess

import pytest

SCRIPT = "scripts/slurm/eval.sbatch"


def _dry_run(repo_root, *args, **env):
    environment = {
        k: v for k, v in os.environ.items() if k not in ("SLURM_GPUS_ON_NODE", "GPUS_PER_NODE", "EVAL_PROCS")
    }
    environment.update(DRY_RUN="1", VENV="/venv", **env)
    return subprocess.run(["bash", SCRIPT, *args], cwd=repo_root, env=environment, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"SLURM_GPUS_ON_NODE": "4"}, ("--model", "m"), "4 GPU(s), 4 process(es): /venv/bin/python -m "
         "torch.distributed.run --standalone --nproc_per_node=4 -m eval.run --model m"),
        ({"SLURM_GPUS_ON_NODE": "4"}, ("eval.run", "--backend", "vllm", "--tensor_parallel_size=2"),
         "4 GPU(s), 2 process(es): /venv/bin/python -m torch.distributed.run --standalone --nproc_per_node=2 -m "
         "eval.run --backend vllm --tensor_parallel_size=2"),
        ({"SLURM_GPUS_ON_NODE": "4", "EVAL_PROCS": "1"}, ("--model", "m"),
         "4 GPU(s), 1 process(es): /venv/bin/python -m eval.run --model m"),
        # A dry run without GPUs shows the cluster launch: the script's #SBATCH --gpus-per-node=4 (as torchrun.sh).
        ({"SLURM_GPUS_ON_NODE": "0"}, ("--model", "m"), "4 GPU(s), 4 process(es): /venv/bin/python -m "
         "torch.distributed.run --standalone --nproc_per_node=4 -m eval.run --model m"),
        ({"GPUS_PER_NODE": "8"}, ("--model", "m"), "8 GPU(s), 8 process(es): /venv/bin/python -m "
         "torch.distributed.run --standalone --nproc_per_node=8 -m eval.run --model m"),
    ],
)  # fmt: skip
def test_dry_run_prints_the_launch(repo_root, env, args, expected):
    result = _dry_run(repo_root, *args, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(expected)


def test_tensor_parallel_larger_than_the_node(repo_root):
    result = _dry_run(repo_root, "--tensor-parallel-size", "8", SLURM_GPUS_ON_NODE="4")
    assert result.returncode == 2
    assert result.stderr.strip() == "--tensor-parallel-size 8: more than the 4 GPU(s) of this node"


def test_dry_run_without_gpus_says_where_the_count_comes_from(repo_root):
    result = _dry_run(repo_root, "--model", "m", SLURM_GPUS_ON_NODE="0")
    assert result.stderr.strip() == (
        "[dry run] no GPU here: 4 GPU(s) per node from eval.sbatch's #SBATCH --gpus-per-node "
        "(GPUS_PER_NODE=N for another count)"
    )
