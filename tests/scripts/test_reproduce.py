"""The per-paper pipeline scripts: dry runs print runnable commands whose recipes exist; done stages are skipped."""

import importlib.util
import shlex
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("reproduce", REPO_ROOT / "scripts" / "reproduce.py")
reproduce = importlib.util.module_from_spec(spec)
sys.modules["reproduce"] = reproduce  # dataclasses resolve their module through sys.modules
spec.loader.exec_module(reproduce)

EXPECTED_STAGES = {
    "samchat": ["samchat_base", "samchat_distill", "samchat_zero", "samchat_r1", "eval_samchat_base",
                "eval_samchat_distill", "eval_samchat_zero", "eval_samchat_r1"],
    "tinyrs": ["tinyrs_pretrain", "tinyrs_instruct", "tinyrs_cot", "tinyrs_r1", "eval_tinyrs_instruct",
               "eval_tinyrs_cot", "eval_tinyrs_r1"],
    "geovlm": ["geovlm_sft", "geovlm_r1", "eval_geovlm_r1"],
}  # fmt: skip


def dry_run(capsys, *args):
    assert reproduce.main([*args, "--data-root", "/data", "--output-root", "/runs", "--dry-run"]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("pipeline", sorted(EXPECTED_STAGES))
def test_stage_order_is_the_papers(pipeline):
    assert [s.name for s in reproduce.PIPELINES[pipeline]] == EXPECTED_STAGES[pipeline]


@pytest.mark.parametrize("pipeline", sorted(EXPECTED_STAGES))
def test_dry_run_commands_name_existing_recipes_and_launchers(capsys, pipeline):
    lines = dry_run(capsys, pipeline)
    assert len(lines) == len(EXPECTED_STAGES[pipeline])
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "sbatch"
        launcher = next(a for a in argv if a.startswith("scripts/slurm/"))
        assert (REPO_ROOT / launcher).is_file(), launcher
        if "--config" in argv:
            assert (REPO_ROOT / argv[argv.index("--config") + 1]).is_file(), line


def test_tinyrs_chain_wires_each_checkpoint_into_the_next_stage(capsys):
    lines = [shlex.split(x) for x in dry_run(capsys, "tinyrs")]
    by_job = {next(a for a in argv if a.startswith("--job-name=")).split("=")[1]: argv for argv in lines}
    instruct = by_job["rs-r1-tinyrs_instruct"]
    assert "--dependency=afterok:<tinyrs_pretrain>" in instruct
    assert instruct[instruct.index("--model_name_or_path") + 1] == "/runs/tinyrs_pretrain"
    r1 = by_job["rs-r1-tinyrs_r1"]
    assert r1[r1.index("--model_name_or_path") + 1] == "/runs/tinyrs_cot"
    assert r1[r1.index("--dataset_name") + 1] == "/data/VHM_dataset_grpo"
    # The base model of the first stage is the paper's.
    pre = by_job["rs-r1-tinyrs_pretrain"]
    assert pre[pre.index("--model_name_or_path") + 1] == "Qwen/Qwen2-VL-2B-Instruct"


def test_samchat_r1_starts_from_distill_and_zero_from_the_base_model(capsys):
    lines = [shlex.split(x) for x in dry_run(capsys, "samchat")]
    by_job = {next(a for a in argv if a.startswith("--job-name=")).split("=")[1]: argv for argv in lines}
    r1, zero = by_job["rs-r1-samchat_r1"], by_job["rs-r1-samchat_zero"]
    assert r1[r1.index("--model_name_or_path") + 1] == "/runs/samchat_distill"
    assert zero[zero.index("--model_name_or_path") + 1] == "Qwen/Qwen2-VL-2B-Instruct"
    assert not any(a.startswith("--dependency") for a in zero)
    assert r1[r1.index("--dataset_name") + 1] == "/data/SAMData-300-Train/grpo"


def test_local_mode_uses_torchrun_for_training_and_one_process_for_eval(capsys):
    lines = dry_run(capsys, "samchat", "--local", "--gpus", "4", "--only", "samchat_base,eval_samchat_base")
    # torchrun through the project's interpreter: a bare `torchrun` exists only on an activated venv's PATH.
    assert shlex.split(lines[0])[:5] == [reproduce.PYTHON, "-m", "torch.distributed.run", "--nproc_per_node=4", "-m"]
    assert shlex.split(lines[1])[:3] == [reproduce.PYTHON, "-m", "eval.run"]
    assert reproduce.PYTHON == str(REPO_ROOT / ".venv" / "bin" / "python")  # the tests run where make install ran


def test_relative_roots_are_the_callers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert reproduce.main(["samchat", "--data-root", "data", "--output-root", "runs", "--dry-run", "--only",
                           "samchat_r1"]) == 0  # fmt: skip
    argv = shlex.split(capsys.readouterr().out.splitlines()[-1])
    assert argv[argv.index("--dataset_name") + 1] == f"{tmp_path}/data/SAMData-300-Train/grpo"
    assert argv[argv.index("--output_dir") + 1] == f"{tmp_path}/runs/samchat_r1"


def test_missing_data_root_stops_before_launching(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        reproduce.main(["samchat", "--data-root", str(tmp_path / "nope"), "--output-root", str(tmp_path), "--local"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"--data-root {tmp_path / 'nope'}: no such folder" in err


def test_extra_stage_arguments_are_appended(capsys):
    lines = dry_run(capsys, "tinyrs", "--only", "tinyrs_r1", "--grpo-args", "--judge_policy skip --max_steps 10")
    assert shlex.split(lines[0])[-4:] == ["--judge_policy", "skip", "--max_steps", "10"]


def test_complete_stages_are_skipped(tmp_path, capsys):
    done = tmp_path / "runs" / "samchat_base"
    done.mkdir(parents=True)
    (done / "config.json").write_text("{}")
    (done / "model.safetensors").write_bytes(b"")
    (tmp_path / "data").mkdir()
    args = ["samchat", "--data-root", str(tmp_path / "data"), "--output-root", str(tmp_path / "runs"), "--local"]
    assert reproduce.main([*args, "--only", "samchat_base"]) == 0
    assert "samchat_base: complete, skipped" in capsys.readouterr().out


def test_unknown_stage_is_a_clear_error():
    with pytest.raises(SystemExit, match="unknown stage"):
        reproduce.main(["geovlm", "--data-root", "/d", "--output-root", "/o", "--only", "nope", "--dry-run"])


@pytest.mark.parametrize("pipeline", sorted(EXPECTED_STAGES))
def test_shell_wrappers_forward_to_the_planner(pipeline):
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / f"reproduce_{pipeline}.sh"), "--data-root", "/d", "--output-root", "/o",
         "--dry-run"],
        capture_output=True, text=True, check=True, env={"PATH": f"{REPO_ROOT / '.venv' / 'bin'}:/usr/bin:/bin"},
    )  # fmt: skip
    assert sum(line.startswith("sbatch ") for line in out.stdout.splitlines()) == len(EXPECTED_STAGES[pipeline])


def test_shell_wrapper_keeps_the_callers_directory(tmp_path):
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "reproduce_geovlm.sh"), "--data-root", "d", "--output-root", "o",
         "--dry-run", "--only", "geovlm_r1"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert f"--output_dir {tmp_path}/o/geovlm_r1" in out.stdout


def test_seed_sweep_on_slurm_is_one_job_array_per_stage_then_the_table(capsys):
    lines = [shlex.split(x) for x in dry_run(capsys, "samchat", "--seeds", "0,1,2")]
    assert len(lines) == len(EXPECTED_STAGES["samchat"]) + 1
    by_job = {next(a for a in argv if a.startswith("--job-name=")).split("=")[1]: argv for argv in lines}
    r1 = by_job["rs-r1-samchat_r1"]
    assert "--array=0,1,2" in r1
    # Task N waits for task N (the same seed) of the stage before it.
    assert "--dependency=aftercorr:<samchat_distill>" in r1
    assert "--output=/runs/logs/%x-%A_%a.out" in r1
    assert r1[r1.index("--model_name_or_path") + 1] == "/runs/seed{seed}/samchat_distill"
    assert r1[r1.index("--output_dir") + 1] == "/runs/seed{seed}/samchat_r1"
    assert r1[r1.index("--seed") + 1] == "{seed}"
    evaluation = by_job["rs-r1-eval_samchat_r1"]
    assert evaluation[evaluation.index("--output-dir") + 1] == "/runs/seed{seed}/eval/samchat_r1"
    assert "--seed" not in evaluation  # evaluation is greedy: the seed is the checkpoint's
    table = by_job["rs-r1-samchat-seeds"]
    waits = "<samchat_base>:<samchat_distill>:<samchat_zero>:<samchat_r1>:<eval_samchat_base>:<eval_samchat_distill>"
    assert f"--dependency=afterany:{waits}:<eval_samchat_zero>:<eval_samchat_r1>" in table
    wrapped = shlex.split(next(a for a in table if a.startswith("--wrap=")).removeprefix("--wrap="))
    assert wrapped[1:] == ["scripts/reproduce.py", "samchat", "--data-root", "/data", "--output-root", "/runs",
                           "--seeds", "0,1,2", "--aggregate"]  # fmt: skip


def test_seed_sweep_locally_runs_the_seeds_in_turn(capsys):
    lines = dry_run(capsys, "geovlm", "--seeds", "3,7", "--local", "--gpus", "1")
    outputs = [argv[argv.index("--output_dir") + 1] for argv in map(shlex.split, lines) if "--output_dir" in argv]
    assert outputs == [
        "/runs/seed3/geovlm_sft",
        "/runs/seed3/geovlm_r1",
        "/runs/seed7/geovlm_sft",
        "/runs/seed7/geovlm_r1",
    ]
    seeds = [argv[argv.index("--seed") + 1] for argv in map(shlex.split, lines) if "--seed" in argv]
    assert seeds == ["3", "3", "7", "7"]


@pytest.mark.parametrize("seeds", ["0,x", "1,1", "-1", ","])
def test_bad_seed_lists_are_rejected(seeds):
    with pytest.raises(SystemExit, match="--seeds takes"):
        reproduce.main(["samchat", "--data-root", "/d", "--output-root", "/o", "--seeds", seeds, "--dry-run"])


def test_the_table_over_seeds(tmp_path, capsys):
    import json

    for seed, precision in ((0, 0.96), (1, 0.98)):
        out = tmp_path / f"seed{seed}" / "eval" / "samchat_r1"
        out.mkdir(parents=True)
        samdata = {"precision": precision, "recall": 0.9, "f1": 0.9, "accuracy": 0.9,
                   "ci95": {"precision": [precision - 0.02, precision + 0.02]}}  # fmt: skip
        metrics = {"paper_model": "samchat_r1", "tasks": {"samdata": {"paper": samdata, "strict": samdata}}}
        (out / "metrics.json").write_text(json.dumps(metrics))
    args = ["samchat", "--data-root", "/d", "--output-root", str(tmp_path), "--seeds", "0,1,2", "--aggregate"]
    assert reproduce.main(args) == 0
    table = (tmp_path / "seeds.md").read_text()
    assert "## eval_samchat_r1 (2 of 3 seeds: seed 0, seed 1)" in table
    assert "| samdata | precision | paper | 0.9700 | 0.9600-0.9800 | [" in table
    assert "| 0.98 | yes | 2 |" in table
    assert "## eval_samchat_base\n\nno seed has finished this evaluation." in table
    rows = json.loads((tmp_path / "seeds.json").read_text())["eval_samchat_r1"]
    assert {r["metric"] for r in rows} == {"precision", "recall", "f1", "accuracy"}
