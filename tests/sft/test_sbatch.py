"""scripts/slurm/sft.sbatch: help, recipe lookup (the launch itself needs SLURM / GPUs)."""

import subprocess


def run(repo_root, *args):
    return subprocess.run(["bash", "scripts/slurm/sft.sbatch", *args], cwd=repo_root, capture_output=True, text=True)


def test_help(repo_root):
    result = run(repo_root, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("SFT on SLURM")
    assert "sbatch scripts/slurm/sft.sbatch samchat_distill" in result.stdout


def test_unknown_recipe_and_no_arguments(repo_root):
    result = run(repo_root, "no_such_recipe")
    assert result.returncode == 2 and "no recipe configs/sft/no_such_recipe.yaml" in result.stderr
    assert run(repo_root).returncode == 2
