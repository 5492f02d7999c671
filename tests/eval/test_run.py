"""eval.run end to end on the tiny model and the synthetic data: batching does not change greedy predictions, a
killed run resumes without regenerating finished samples, and the results files are complete.

About a second each on two CPU cores (24 new tokens of the tiny model), hence not marked slow."""

import json

import pytest

from eval import run as eval_run
from eval.generate import read_predictions
from eval.score import score_rows
from eval.tasks import TASKS, ScoreOptions

MAX_NEW_TOKENS = "24"  # the random tiny model never stops by itself


def _eval(model, data, out, *extra):
    argv = ["--model", str(model), "--data-root", str(data), "--output-dir", str(out), "--max-new-tokens"]
    assert eval_run.main([*argv, MAX_NEW_TOKENS, "--no-meteor", *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


def _predictions(out, task):
    return {row["id"]: row["prediction"] for row in read_predictions(out / task / "predictions.jsonl")}


@pytest.mark.parametrize(
    ("tasks", "folder", "extra"),
    [
        ("samdata", "samdata/test", ()),
        ("cls_aid,vqa_LR-comp,rs_vg,lhrs_bench", "scorers", ("--prompt-style", "tinyrs", "--reasoning")),
    ],
)
def test_batch_8_equals_batch_1(tiny_model_dir, synthetic_dir, tmp_path, tasks, folder, extra):
    data = synthetic_dir / folder
    one = _eval(tiny_model_dir, data, tmp_path / "b1", "--tasks", tasks, "--batch-size", "1", *extra)
    eight = _eval(tiny_model_dir, data, tmp_path / "b8", "--tasks", tasks, "--batch-size", "8", *extra)
    for task in tasks.split(","):
        expected = _predictions(tmp_path / "b1", task)
        assert expected and all(expected.values())  # something was generated for every sample
        assert _predictions(tmp_path / "b8", task) == expected
        assert eight["tasks"][task]["paper"] == one["tasks"][task]["paper"]
        assert one["tasks"][task]["errors"] == 0


class CountingBackend:
    def __init__(self, backend):
        self.backend, self.name, self.requests = backend, backend.name, 0

    def generate(self, requests, **kw):
        self.requests += len(requests)
        return self.backend.generate(requests, **kw)


def test_killed_run_resumes(tiny_model_dir, synthetic_dir, tmp_path, monkeypatch):
    data = synthetic_dir / "samdata" / "test"
    args = ("--tasks", "samdata", "--batch-size", "2")
    full = _eval(tiny_model_dir, data, tmp_path / "full", *args)
    total = full["tasks"]["samdata"]["samples"]

    counters = []
    real_load = eval_run.load_backend

    def counting_load(*a, **kw):
        counters.append(CountingBackend(real_load(*a, **kw)))
        return counters[-1]

    monkeypatch.setattr(eval_run, "load_backend", counting_load)
    out = tmp_path / "killed"
    _eval(tiny_model_dir, data, out, *args)
    # The kill: the run died while writing its fourth line, after three finished samples.
    path = out / "samdata" / "predictions.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    (out / "metrics.json").unlink()
    resumed = _eval(tiny_model_dir, data, out, *args)
    assert counters[-1].requests == total - 3  # nothing already predicted is generated again
    assert resumed["tasks"]["samdata"]["reused"] == 3
    assert resumed["tasks"]["samdata"]["paper"] == full["tasks"]["samdata"]["paper"]
    assert resumed["tasks"]["samdata"]["strict"] == full["tasks"]["samdata"]["strict"]
    assert _predictions(out, "samdata") == _predictions(tmp_path / "full", "samdata")
    # A complete rerun does not even load the model; --force regenerates everything.
    loads = len(counters)
    _eval(tiny_model_dir, data, out, *args)
    assert len(counters) == loads
    _eval(tiny_model_dir, data, out, *args, "--force")
    assert counters[-1].requests == total


def test_results_files(tiny_model_dir, synthetic_dir, tmp_path):
    out = tmp_path / "out"
    metrics = _eval(tiny_model_dir, synthetic_dir / "samdata" / "test", out, "--tasks", "samdata", "--limit", "4")
    assert metrics["model"] == str(tiny_model_dir)
    assert (metrics["prompt_style"], metrics["reasoning"], metrics["limit"], metrics["backend"]) == (
        None,
        False,
        4,
        "hf",
    )
    assert set(metrics["versions"]) >= {"torch", "transformers", "rs-r1"}
    task = metrics["tasks"]["samdata"]
    assert (task["samples"], task["errors"], task["max_new_tokens"]) == (4, 0, 24)
    assert set(task["paper"]) >= {"tp", "fp", "tn", "fn", "precision", "recall", "f1", "accuracy", "per_category"}
    assert sum(c["total"] for c in task["strict"]["per_category"].values()) == 4
    # The intervals beside each protocol's metrics are the seeded bootstrap's, exactly as eval.score computes them.
    rescored = score_rows(TASKS["samdata"], read_predictions(out / "samdata" / "predictions.jsonl"), ScoreOptions(),
                          resamples=1000)  # fmt: skip
    for protocol in ("paper", "strict"):
        assert set(task[protocol]["ci95"]) == {"precision", "recall", "f1", "accuracy"}
        assert task[protocol]["ci95"] == rescored[protocol]["ci95"]
        assert all(0 <= low <= high <= 1 for low, high in task[protocol]["ci95"].values())
    assert "| samdata | f1 |" in (out / "report.md").read_text()
    assert (out / "tasks.png").is_file() and (out / "samdata_confusion.png").is_file()


class InterruptedBackend(CountingBackend):
    """Ctrl-C pressed while the second batch generates."""

    def generate(self, requests, **kw):
        if self.requests:
            raise KeyboardInterrupt
        return super().generate(requests, **kw)


def test_ctrl_c_ends_with_one_line_and_the_same_command_resumes(
    tiny_model_dir, synthetic_dir, tmp_path, monkeypatch, caplog
):
    out = tmp_path / "out"
    argv = ["--model", str(tiny_model_dir), "--data-root", str(synthetic_dir / "samdata" / "test"), "--output-dir",
            str(out), "--max-new-tokens", MAX_NEW_TOKENS, "--tasks", "samdata", "--batch-size", "2"]  # fmt: skip
    real_load = eval_run.load_backend
    monkeypatch.setattr(eval_run, "load_backend", lambda *a, **kw: InterruptedBackend(real_load(*a, **kw)))
    assert eval_run.main(argv) == 130
    assert [r.getMessage() for r in caplog.records if r.name == "common.interrupt"] == [
        f"interrupted (Ctrl-C); the same command resumes: the predictions made so far (in {out}/<task>/predictions.jsonl)"
        f" are kept: python -m eval.run {' '.join(argv)}"
    ]
    assert len(_predictions(out, "samdata")) == 2  # the first batch
    monkeypatch.setattr(eval_run, "load_backend", real_load)
    assert eval_run.main(argv) == 0
    assert json.loads((out / "metrics.json").read_text())["tasks"]["samdata"]["reused"] == 2
