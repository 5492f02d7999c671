"""Test helper shared by the SFT and GRPO kill-and-resume tests: an uninterrupted run, the same run SIGKILLed while it
writes a checkpoint (tests/kill_during_save.py), then the same command again, all as subprocesses of the project's
python with one environment, so thread counts cannot change the arithmetic between the runs."""

import os
import signal
import subprocess
import sys
from pathlib import Path


def run_python(repo_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)


def kill_during_save_then_rerun(
    repo_root: Path, module: str, full_args: list[str], killed_args: list[str], killed: Path, step: int, point: str
) -> tuple[set[str], subprocess.CompletedProcess]:
    """Run `module` with full_args to the end; run it with killed_args and SIGKILL it at `point` of writing
    checkpoint-<step>; run that command again. Returns (the files the cut checkpoint holds, the rerun), having
    checked that the rerun succeeded, passed over the cut checkpoint and resumed from the newest complete one."""
    assert run_python(repo_root, "-m", module, *full_args).returncode == 0
    cut = run_python(repo_root, "tests/kill_during_save.py", str(step), point, module, *killed_args)
    assert cut.returncode == -signal.SIGKILL, cut.stderr[-3000:]
    left = {path.name for path in (killed / f"checkpoint-{step}").iterdir()}
    rerun = run_python(repo_root, "-m", module, *killed_args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"skipping {killed / f'checkpoint-{step}'}, an incomplete checkpoint" in rerun.stderr
    return left, rerun
