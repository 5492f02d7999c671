"""--eval_on_save (common.eval_on_save): each saved checkpoint evaluated by eval.run, locally or as a SLURM job; a
failed evaluation is one warning line and never stops training."""

import json
import logging
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard

from common.eval_on_save import EvalOnSave, choose_launcher, eval_command
from sft.configs import SFTTrainingArguments

EVAL_ARGS = "--limit 2 --max-new-tokens 8 --no-report"


def _args(tmp_path, **extra):
    values = {"eval_on_save": "samdata", "eval_on_save_data_root": "/data/test", "eval_on_save_args": EVAL_ARGS,
              "eval_on_save_launcher": "auto", "output_dir": str(tmp_path)}  # fmt: skip
    return SimpleNamespace(**{**values, **extra})


def _saved(tmp_path, step):
    (tmp_path / f"checkpoint-{step}").mkdir()
    return SimpleNamespace(is_world_process_zero=True, global_step=step)


def test_the_command_writes_into_the_checkpoint_folder(tmp_path):
    assert eval_command(_args(tmp_path), "run/checkpoint-4") == [
        "--model", "run/checkpoint-4", "--tasks", "samdata", "--data-root", "/data/test",
        "--output-dir", "run/checkpoint-4", "--limit", "2", "--max-new-tokens", "8", "--no-report",
    ]  # fmt: skip


def test_auto_is_slurm_only_inside_a_job_with_sbatch(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert choose_launcher("auto") == "local"
    sbatch = tmp_path / "sbatch"
    sbatch.write_text("#!/bin/sh\n")
    sbatch.chmod(0o755)
    assert choose_launcher("auto") == "local"
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert choose_launcher("auto") == "slurm"
    assert choose_launcher("local") == "local"


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"eval_on_save": "samdata"}, "eval_on_save needs eval_on_save_data_root"),
        ({"eval_on_save_launcher": "ssh"}, "eval_on_save_launcher must be one of auto, local, slurm, got 'ssh'"),
        ({"eval_on_save_args": "--limit '2"}, 'eval_on_save_args "--limit \'2" is not a shell-quoted string'),
    ],
)
def test_bad_switch_settings_are_refused_at_parse_time(tmp_path, flags, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SFTTrainingArguments(output_dir=str(tmp_path), use_cpu=True, **flags)


def _fake_sbatch(tmp_path, monkeypatch, script):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f"#!/bin/sh\n{script}\n")
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    return bin_dir


def test_under_slurm_each_checkpoint_is_a_job_of_eval_sbatch(tmp_path, monkeypatch, caplog):
    bin_dir = _fake_sbatch(
        tmp_path,
        monkeypatch,
        'echo "$@" > "$(dirname "$0")/argv"; echo "VENV=$VENV" >> "$(dirname "$0")/argv"; echo 4242',
    )
    args = _args(tmp_path)
    callback = EvalOnSave(args)
    caplog.set_level(logging.INFO, logger="common.eval_on_save")
    callback.on_save(args, _saved(tmp_path, 3), None)
    checkpoint = str(tmp_path / "checkpoint-3")
    argv, venv = (bin_dir / "argv").read_text().splitlines()
    assert argv.split()[:3] == [
        "--parsable",
        "--job-name=rs-r1-eval-checkpoint-3",
        f"--output={checkpoint}/eval-%j.log",
    ]
    assert argv.split()[3].endswith("scripts/slurm/eval.sbatch")
    assert argv.split()[4:] == ["eval.run", *eval_command(_args(tmp_path), checkpoint)]
    assert venv == f"VENV={sys.prefix}"
    assert callback.outcomes == {checkpoint: "submitted 4242"}
    assert f"{checkpoint} submitted as SLURM job 4242, log: {checkpoint}/eval-4242.log" in caplog.text


def test_a_refused_submission_is_one_warning_and_training_goes_on(tmp_path, monkeypatch, caplog):
    _fake_sbatch(
        tmp_path, monkeypatch, 'echo "sbatch: error: Invalid account or account/partition combination" >&2; exit 1'
    )
    args = _args(tmp_path)
    callback = EvalOnSave(args)
    callback.on_save(args, _saved(tmp_path, 3), None)  # returns: nothing raised
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"eval_on_save: sbatch for {tmp_path / 'checkpoint-3'} failed: "
        "sbatch: error: Invalid account or account/partition combination"
    ]


def test_other_ranks_launch_nothing(tmp_path, monkeypatch):
    args = _args(tmp_path, eval_on_save_launcher="local")
    callback = EvalOnSave(args)
    callback.on_save(args, SimpleNamespace(is_world_process_zero=False, global_step=3), None)
    assert callback.running is None and not callback.queue and not callback.outcomes


@pytest.mark.slow
def test_a_tiny_sft_run_evaluates_every_checkpoint(repo_root, tiny_model_dir, synthetic_dir, tmp_path):
    """The issue's check: a tiny SFT run with the switch; every saved checkpoint has its metrics.json and a model
    card with the score. A second run whose evaluations fail (no such data) still trains to the end, with one
    warning per checkpoint naming its log."""
    train = synthetic_dir / "samdata" / "train"

    def run(out, data_root):
        cmd = [sys.executable, "-m", "sft.train", "--config", "configs/sft/demo.yaml",
               "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out),
               "--data_path", str(train / "sam_300_reasoning_inst.json"), "--image_folder", str(train),
               "--max_steps", "2", "--save_steps", "1", "--report_to", "none",
               "--eval_on_save", "samdata", "--eval_on_save_data_root", str(data_root),
               "--eval_on_save_args", EVAL_ARGS, "--eval_on_save_launcher", "local"]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        result = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-5000:]
        return result

    out = tmp_path / "sft"
    run(out, synthetic_dir / "samdata" / "test")
    for step in (1, 2):
        checkpoint = out / f"checkpoint-{step}"
        metrics = json.loads((checkpoint / "metrics.json").read_text())
        assert metrics["model"] == str(checkpoint)
        assert metrics["tasks"]["samdata"]["samples"] == 2
        card = ModelCard.load(checkpoint / "README.md")
        assert "sft" in card.data.tags
        assert [r.dataset_name for r in card.data.eval_results] == ["samdata"]
        assert (checkpoint / "samdata" / "predictions.jsonl").read_text().count("\n") == 2

    failing = tmp_path / "failing"
    result = run(failing, tmp_path / "no-such-data")
    assert (failing / "model.safetensors").is_file()
    warnings = [line for line in result.stderr.splitlines() if " WARNING common.eval_on_save: " in line]
    assert [line.split("WARNING ")[1] for line in warnings] == [
        f"common.eval_on_save: eval_on_save: evaluation of {failing / f'checkpoint-{step}'} failed (exit 1), log: "
        f"{failing / f'checkpoint-{step}' / 'eval.log'}"
        for step in (1, 2)
    ]
