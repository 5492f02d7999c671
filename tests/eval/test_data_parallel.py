"""Data-parallel eval.run (eval.shard): `torchrun --nproc_per_node 2 -m eval.run` on the tiny model over SAMData and
two EarthDial families (a one-image VQA set and a bi-temporal change-captioning set) writes the predictions.jsonl and
metrics.json of one process byte for byte; killed mid-run (SIGKILL to the whole torchrun group) and rerun, the same
again, with only the reused / generated counts telling the runs apart.

Slow: three torchrun launches of two CPU ranks per family (the ranks meet through torchrun's store), a minute or
two on two cores."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from eval import run as eval_run
from eval.generate import PREDICTIONS
from offline.synthetic.earthdial import EVAL_ROOT

pytestmark = pytest.mark.slow

EARTHDIAL = "earthdial_rsvqa_lr,earthdial_cc_dubai"
COMMON = ("--max-new-tokens", "16", "--batch-size", "2", "--no-report")


def _argv(model, data, out, tasks):
    return ["--model", str(model), "--tasks", tasks, "--data-root", str(data), "--output-dir", str(out), *COMMON]


def _torchrun(repo_root, argv) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return subprocess.Popen(
        [*command, "-m", "eval.run", *argv],
        cwd=repo_root,
        env=env,
        start_new_session=True,  # its own process group: the kill below reaches torchrun and both ranks
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def _files(out, tasks):
    return {name: (out / name).read_bytes() for name in [f"{task}/{PREDICTIONS}" for task in tasks] + ["metrics.json"]}


def _results(metrics_bytes):
    metrics = json.loads(metrics_bytes)
    for result in metrics["tasks"].values():
        del result["reused"], result["generated"]  # how this run got there, not what it found
    return metrics


@pytest.mark.parametrize(
    ("tasks", "folder"), [("samdata", "samdata/test"), (EARTHDIAL, EVAL_ROOT)], ids=["samdata", "earthdial"]
)
def test_torchrun_two_ranks_equal_one_process(repo_root, tiny_model_dir, synthetic_dir, tmp_path, tasks, folder):
    data = synthetic_dir / folder
    keys = tasks.split(",")
    assert eval_run.main(_argv(tiny_model_dir, data, tmp_path / "one", tasks)) == 0
    expected = _files(tmp_path / "one", keys)

    output = _finish(_torchrun(repo_root, _argv(tiny_model_dir, data, tmp_path / "two", tasks)))
    assert "data-parallel evaluation: rank 1 of 2" in output
    assert _files(tmp_path / "two", keys) == expected
    assert not list((tmp_path / "two").glob("*/predictions.rank*.jsonl"))  # merged into predictions.jsonl
    metrics = json.loads(expected["metrics.json"])
    assert all(metrics["tasks"][key]["errors"] == 0 for key in keys)
    assert sum(metrics["tasks"][key]["generated"] for key in keys) == sum(
        metrics["tasks"][key]["samples"] for key in keys
    )

    # Killed once some rank has written a batch: the rerun reuses it and ends with the same files.
    out = tmp_path / "killed"
    process = _torchrun(repo_root, _argv(tiny_model_dir, data, out, tasks))
    deadline = time.monotonic() + 300
    while not any(path.stat().st_size for path in out.glob("*/predictions.rank*.jsonl")):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no rank wrote a prediction in 300 s"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    _finish(_torchrun(repo_root, _argv(tiny_model_dir, data, out, tasks)))
    resumed = _files(out, keys)
    assert {k: v for k, v in resumed.items() if k != "metrics.json"} == {
        k: v for k, v in expected.items() if k != "metrics.json"
    }
    assert _results(resumed["metrics.json"]) == _results(expected["metrics.json"])
    assert sum(json.loads(resumed["metrics.json"])["tasks"][key]["reused"] for key in keys) >= 1
