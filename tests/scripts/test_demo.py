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
    # The second lane's stages (the other datasets and their validation, the base and SFT evaluations) log apart.
    assert "validated" in (out / "logs" / "data.log").read_text()
    for name in ("eval_base", "eval_sft"):
        assert "metrics:" in (out / "logs" / f"{name}.log").read_text(), name

    # Rerunning resumes: every stage is complete, so nothing is retrained (the SFT model file is untouched).
    model = next((out / "sft").glob("*.safetensors"))
    mtime = model.stat().st_mtime_ns
    rerun = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert model.stat().st_mtime_ns == mtime


def _demo_report():
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_report", REPO_ROOT / "scripts" / "demo_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_check_names_each_figure_that_differs_and_whether_it_is_within_the_tolerance(tmp_path):
    report = _demo_report()
    metrics = {
        name: {"paper": dict(zip(report.COLUMNS, values, strict=True))}
        for name, values in {
            "base": (0, 0, 0, 0.444),
            "sft": (0.684, 1, 0.52, 0.733),
            "grpo": (0.9, 1, 0.8, 0.9),
        }.items()
    }
    readme = tmp_path / "README.md"
    # Another table further down with a row named like a checkpoint (the README's stages table has a GRPO row).
    readme.write_text("\n".join([*report.readme_table(metrics), "", "| stage | entry |", "| GRPO | grpo.train |", ""]))
    assert report.check_readme(metrics, readme) == (True, [])
    readme.write_text(
        readme.read_text().replace("| GRPO | 0.900 | 1.000 | 0.800 |", "| GRPO | 0.930 | 1.000 | 0.700 |")
    )
    assert report.check_readme(metrics, readme, tolerance=0.05) == (
        False,
        [
            "GRPO f1: README 0.930, this run 0.900 (-0.030), within the +-0.05 README says to expect on another "
            "machine",
            "GRPO recall: README 0.700, this run 0.800 (+0.100), BEYOND the +-0.05 README says to expect on "
            "another machine",
        ],
    )
    assert report.check_readme(metrics, readme, tolerance=0.1)[0] is True
    readme.write_text("no table\n")
    holds, lines = report.check_readme(metrics, readme)
    assert not holds and lines[0] == "base (random) f1: README states no figure, this run 0.000" and len(lines) == 12


def test_readme_states_the_tolerance_the_check_uses():
    report = _demo_report()
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"within {report.README_TOLERANCE:.2f} of" in readme
    assert report.readme_rows(REPO_ROOT / "README.md").keys() == set(report.README_ROWS.values())


@pytest.mark.slow
def test_full_demo_gives_the_readme_figures(tmp_path):
    # README's demo table is what `make demo` prints (seed 0, full size): the whole default demo, then the check.
    out = tmp_path / "demo"
    env = {**os.environ, "DEMO_OUT": str(out)}
    for name in ("DEMO_SIZE", "DEMO_SEED", "SFT_ARGS", "GRPO_ARGS", "EVAL_ARGS"):
        env.pop(name, None)
    run = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # README's table holds within the tolerance it states on any x86-64 machine (README, "Seeds and CPU types").
    assert "README.md: the demo table matches this run" in run.stdout or (
        "within the +-" in run.stdout and "BEYOND" not in run.stdout
    ), run.stdout[-2000:] + run.stderr[-2000:]
    # Twice on one machine, from nothing: the same report.
    again = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=REPO_ROOT,
        env={**env, "DEMO_OUT": str(tmp_path / "again")},
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr[-4000:]
    assert (tmp_path / "again" / "report.md").read_text() == (out / "report.md").read_text()


def test_spread_table_has_one_row_per_run(tmp_path):
    report = _demo_report()
    for run, grpo_f1 in (("a", 0.925), ("b", 0.039)):
        for name, f1 in (("base", 0.0), ("sft", 0.684), ("grpo", grpo_f1)):
            folder = tmp_path / run / "eval" / name
            folder.mkdir(parents=True)
            paper = {"f1": f1, "precision": 1.0, "recall": f1 / 2, "accuracy": 0.5}
            (folder / "metrics.json").write_text(json.dumps({"tasks": {"samdata": {"paper": paper, "strict": paper}}}))
    runs = report.spread_runs([f"seed 0={tmp_path / 'a'}", f"seed 1={tmp_path / 'b'}"])
    assert report.spread_table(runs)[2:] == [
        "| seed 0 | 0.000 | 0.684 | 0.925 | 1.000 | 0.463 | 0.500 |",
        "| seed 1 | 0.000 | 0.684 | 0.039 | 1.000 | 0.019 | 0.500 |",
    ]
    with pytest.raises(SystemExit, match="LABEL=DEMO_DIR"):
        report.spread_runs([str(tmp_path / "a")])


def _write_metrics(folder, paper):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"tasks": {"samdata": {"paper": paper, "strict": paper}}}))


def test_seed_summary_aggregates_the_seed_runs_as_reproduce_does(tmp_path):
    report = _demo_report()
    for run, grpo_f1 in (("a", 0.9), ("b", 0.7)):
        for name in ("sft", "grpo"):
            f1 = 0.684 if name == "sft" else grpo_f1
            paper = {"f1": f1, "precision": 1.0, "recall": 0.5, "accuracy": 0.5}
            if name == "sft":  # the SFT runs carry intervals, the GRPO runs do not: no pooled interval for them
                paper["ci95"] = {"f1": [0.604, 0.764], "accuracy": [0.4, 0.6]}
            _write_metrics(tmp_path / run / "eval" / name, paper)
    lines = report.seed_summary({"seed 0": tmp_path / "a", "seed 1": tmp_path / "b"})
    # Same F1 at both seeds: the pooled interval is the test-sample interval alone (half-width 0.080).
    assert lines[2:] == [
        "| sft | f1 | 0.684 | 0.684-0.684 | [0.604, 0.764] | 2 |",
        "| sft | accuracy | 0.500 | 0.500-0.500 | [0.400, 0.600] | 2 |",
        "| grpo | f1 | 0.800 | 0.700-0.900 | - | 2 |",
        "| grpo | accuracy | 0.500 | 0.500-0.500 | - | 2 |",
    ]


def test_report_shows_the_intervals_eval_run_wrote():
    report = _demo_report()
    paper = {"f1": 0.9, "accuracy": 0.85, "ci95": {"f1": [0.8, 0.95], "accuracy": [0.78, 0.92]}}
    metrics = {name: {"paper": paper, "strict": {"f1": 0.5, "accuracy": 0.5}} for name in report.CHECKPOINTS}
    lines = report.interval_table(metrics)
    assert lines[4] == "| base | 0.9000 [0.8000, 0.9500] | 0.8500 [0.7800, 0.9200] | 0.5000 | 0.5000 |"
