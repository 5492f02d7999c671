"""The end-to-end demo at a reduced size: every stage runs through scripts/demo.sh and the report lists all three
checkpoints with their figures and plots (the full-size demo is `make demo`)."""

import json
import os
import subprocess

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_reduced_demo_pipeline_writes_a_report_for_three_checkpoints(tmp_path):
    out = tmp_path / "demo"
    env = {
        **os.environ,
        "DEMO_OUT": str(out),
        "DEMO_SIZE": "small",
        "SFT_ARGS": "--max_steps 4 --save_steps 4 --report_to none",
        "GRPO_ARGS": "--max_steps 2 --save_steps 2 --report_to none",
        "EVAL_ARGS": "--max-new-tokens 24",
    }
    run = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "python -m eval.serve --model" in run.stdout

    report = (out / "report.md").read_text()
    for name in ("base", "sft", "grpo"):
        assert f"| {name} |" in report
        metrics = json.loads((out / "eval" / name / "metrics.json").read_text())
        assert "samdata" in json.dumps(metrics)
    for png in ("sft_loss.png", "grpo_rewards.png", "f1_by_checkpoint.png"):
        assert (out / png).stat().st_size > 1000, png

    # Rerunning resumes: every stage is complete, so nothing is retrained (the SFT model file is untouched).
    model = next((out / "sft").glob("*.safetensors"))
    mtime = model.stat().st_mtime_ns
    rerun = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert model.stat().st_mtime_ns == mtime
