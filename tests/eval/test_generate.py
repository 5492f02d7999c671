"""Generation bookkeeping with a fake backend: batching, failures recorded, resume, settings guard, loaders."""

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from common.data import DataError
from eval import run as eval_run
from eval.backends import Generation
from eval.generate import generate_task, read_predictions
from eval.shard import Shard
from eval.tasks import TASKS, PromptOptions

SETTINGS = {"model": "fake", "prompt_style": None, "reasoning": False, "min_pixels": None, "max_pixels": None}


class FakeBackend:
    """Answers "military" for a red-ish image, "farmland" otherwise; fails any batch holding a failing image."""

    name = "fake"

    def __init__(self, fail_size=None):
        self.calls = []
        self.fail_size = fail_size

    def generate(self, requests, *, max_new_tokens, stop):
        self.calls.append(len(requests))
        if any(r.image.size == self.fail_size for r in requests):
            raise RuntimeError("CUDA out of memory")
        return [Generation("military" if r.image.getpixel((0, 0))[0] > 128 else "farmland", [28, 28]) for r in requests]


@pytest.fixture
def samdata_folder(tmp_path):
    folder = tmp_path / "samdata"
    folder.mkdir()
    for name, colour in [("0_a.png", "red"), ("1_b.png", "red"), ("2_c.png", "green"), ("2_d.png", "green")]:
        Image.new("RGB", (16, 16), colour).save(folder / name)
    Image.new("RGB", (20, 20), "red").save(folder / "1_fail.png")  # the fake backend fails on 20x20 images
    (folder / "0_broken.png").write_bytes(b"not a png")  # unreadable: the reader records it
    (folder / "notes.txt").write_text("not a sample")
    return folder


def _run(folder, out, backend, **kw):
    task = TASKS["samdata"]
    rows = task.load(folder)
    options = {"prompt": PromptOptions(), "settings": SETTINGS, "batch_size": 4, "max_new_tokens": 8, **kw}
    return generate_task(task, rows, lambda: backend, out, **options)


def test_failures_are_recorded_and_batches_retried(samdata_folder, tmp_path):
    backend = FakeBackend(fail_size=(20, 20))
    summary = _run(samdata_folder, tmp_path / "out", backend)
    rows = {r["id"]: r for r in read_predictions(tmp_path / "out" / "samdata" / "predictions.jsonl")}
    assert sorted(rows) == ["0_a.png", "0_broken.png", "1_b.png", "1_fail.png", "2_c.png", "2_d.png"]
    assert "image unreadable" in rows["0_broken.png"]["error"]
    assert rows["1_fail.png"]["error"] == "generation failed: RuntimeError('CUDA out of memory')"
    assert rows["0_a.png"]["prediction"] == "military" and rows["2_c.png"]["prediction"] == "farmland"
    assert rows["0_a.png"]["input_size"] == [28, 28]
    # Batches of 4 over 5 readable images: [0_a, 1_b, 1_fail] fails (the broken file never reaches the backend),
    # is retried one by one, then [2_c, 2_d].
    assert backend.calls == [3, 1, 1, 1, 2]
    assert (summary.samples, summary.generated, summary.errors, summary.reused) == (6, 4, 2, 0)


def test_resume_regenerates_only_missing_and_failed(samdata_folder, tmp_path):
    out = tmp_path / "out"
    _run(samdata_folder, out, FakeBackend(fail_size=(20, 20)))
    path = out / "samdata" / "predictions.jsonl"
    complete = {r["id"]: r for r in read_predictions(path)}
    # Simulate a kill: the last good line cut in half.
    lines = path.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if '"2_d.png"' in line)
    path.write_text("".join(lines[:cut]) + lines[cut][:20])
    backend = FakeBackend()
    summary = _run(samdata_folder, out, backend)
    # Regenerated: 2_d (cut short), 1_fail (failed before; fine now); 0_broken is recorded again, not generated.
    # Each in the call of its own batch of 4 ([0_a, 0_broken, 1_b, 1_fail], [2_c, 2_d]), as a fresh run batches them.
    assert backend.calls == [1, 1]
    assert (summary.reused, summary.generated, summary.errors) == (3, 2, 1)
    again = {r["id"]: r for r in read_predictions(path)}
    assert again["2_d.png"] == complete["2_d.png"]
    assert again["1_fail.png"]["prediction"] == "military" and "error" not in again["1_fail.png"]
    # A complete file: the backend is not even built.
    summary = _run(samdata_folder, out, None)
    assert (summary.reused, summary.generated) == (5, 0)


def test_changed_settings_need_force(samdata_folder, tmp_path):
    out = tmp_path / "out"
    _run(samdata_folder, out, FakeBackend())
    with pytest.raises(ValueError, match="different settings \\(max_new_tokens\\)"):
        _run(samdata_folder, out, FakeBackend(), max_new_tokens=16)
    backend = FakeBackend()
    summary = _run(samdata_folder, out, backend, max_new_tokens=16, force=True)
    assert summary.reused == 0 and sum(backend.calls) == 5


def test_force_on_a_fresh_output_dir(samdata_folder, tmp_path):
    # --force with nothing to remove yet (GRPO validation forces every step's fresh folder): generates everything.
    backend = FakeBackend()
    summary = _run(samdata_folder, tmp_path / "fresh", backend, force=True)
    assert (summary.reused, sum(backend.calls)) == (0, 5)
    assert len(read_predictions(tmp_path / "fresh" / "samdata" / "predictions.jsonl")) == 6


def test_read_predictions_rejects_a_bad_middle_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prediction": "x"}\nnot json\n{"id": "b", "prediction": "y"}\n')
    with pytest.raises(ValueError, match="p.jsonl: record 2: invalid JSON"):
        read_predictions(path)


def test_scorers_loader_records_bad_records(synthetic_dir, tmp_path):
    root = tmp_path / "scorers"
    shutil.copytree(synthetic_dir / "scorers", root)
    data = json.loads((root / "cls_AID.json").read_text())
    data[1]["image"] = "missing.jpg"
    (root / "cls_AID.json").write_text(json.dumps(data))
    rows = TASKS["cls_aid"].load(root)
    assert [r["id"] for r in rows] == [str(i) for i in range(len(data))]
    assert "not found" in rows[1]["error"] and rows[1]["answer"] == data[1]["conversations"][1]["value"]
    assert rows[0]["question"] == data[0]["conversations"][0]["value"]
    grounding = TASKS["rs_vg"].load(root)
    assert all(len(r["size"]) == 2 for r in grounding)
    lhrs = TASKS["lhrs_bench"].load(root)
    assert all(r["type"] for r in lhrs) and "LHRS-Bench_extra" in lhrs[0]["image"]


def test_geovlm_loader(synthetic_dir):
    rows = TASKS["geovlm_referring_detection"].load(synthetic_dir / "geovlm")
    assert rows and all(r["image"].endswith(".jpg") and "size" in r and "error" not in r for r in rows)
    assert rows[0]["question"].startswith("<image>")


def test_run_requires_a_prompt_style_for_scorers(synthetic_dir, tmp_path, caplog):
    argv = ["--model", "not/loaded", "--tasks", "scorers", "--data-root", str(synthetic_dir / "scorers")]
    assert eval_run.main([*argv, "--output-dir", str(tmp_path)]) == 1
    assert "--prompt-style is required" in caplog.text


@pytest.mark.parametrize(
    ("tasks", "message"),
    [("samdata,cls_aid", "need separate runs"), ("nope", "unknown task 'nope'")],
)
def test_run_rejects_bad_task_lists(tmp_path, caplog, tasks, message):
    argv = ["--model", "m", "--tasks", tasks, "--data-root", str(tmp_path), "--output-dir", str(tmp_path)]
    assert eval_run.main(argv) == 1
    assert message in caplog.text


def test_every_predictions_reader_refuses_duplicate_ids(tmp_path):
    from eval.generate import read_prediction_file

    path = tmp_path / "p.jsonl"
    row = {"id": "a", "prediction": "x"}
    path.write_text("".join(json.dumps(r) + "\n" for r in (row, {"id": "b", "prediction": "y"}, row)))
    for reader in (read_predictions, read_prediction_file):
        with pytest.raises(DataError, match=r"p\.jsonl: record 3: duplicate id 'a', already in record 1: one row"):
            reader(path)


def test_run_refuses_an_empty_samdata_folder(tmp_path, caplog):
    (tmp_path / "data").mkdir()
    argv = ["--model", "never-loaded", "--tasks", "samdata", "--data-root", str(tmp_path / "data")]
    assert eval_run.main([*argv, "--output-dir", str(tmp_path / "out")]) == 1
    assert f"{tmp_path / 'data'}: no records" in caplog.text


def _sharded(folder, out, world, backends, **kw):
    """generate_task as `world` ranks of a torchrun job, one thread each, meeting through one in-memory store."""
    from torch.distributed import HashStore

    store = HashStore()
    with ThreadPoolExecutor(world) as pool:
        runs = [pool.submit(_run, folder, out, backends[rank], shard=Shard(rank, world, store=store), **kw)
                for rank in range(world)]  # fmt: skip
        return [run.result(timeout=60) for run in runs]


def test_ranks_generate_their_batches_and_rank_0_merges_in_dataset_order(samdata_folder, tmp_path):
    _run(samdata_folder, tmp_path / "one", FakeBackend(fail_size=(20, 20)), batch_size=2)
    expected = (tmp_path / "one" / "samdata" / "predictions.jsonl").read_bytes()
    backends = [FakeBackend(fail_size=(20, 20)), FakeBackend(fail_size=(20, 20))]
    summaries = _sharded(samdata_folder, tmp_path / "two", 2, backends, batch_size=2)
    folder = tmp_path / "two" / "samdata"
    assert (folder / "predictions.jsonl").read_bytes() == expected
    assert not list(folder.glob("predictions.rank*.jsonl"))
    # Batches of 2 in dataset order: [0_a, 0_broken] [1_b, 1_fail] [2_c, 2_d]: rank 0 has the first and third
    # (0_broken never reaches the backend), rank 1 the second, which fails and is retried one by one.
    assert backends[0].calls == [1, 2] and backends[1].calls == [2, 1, 1]
    # every rank reports the whole task
    assert {(s.samples, s.generated, s.errors, s.reused) for s in summaries} == {(6, 4, 2, 0)}


def test_a_killed_sharded_run_resumes_with_another_number_of_ranks(samdata_folder, tmp_path):
    _run(samdata_folder, tmp_path / "one", FakeBackend(), batch_size=2)
    expected = (tmp_path / "one" / "samdata" / "predictions.jsonl").read_bytes()
    out = tmp_path / "out"
    _sharded(samdata_folder, out, 2, [FakeBackend(), FakeBackend()], batch_size=2)
    folder = out / "samdata"
    # As if killed before the merge: rank 1 wrote [1_b, 1_fail]; rank 0 only 0_a of its batches, then a cut line.
    rows = (folder / "predictions.jsonl").read_text().splitlines(keepends=True)
    (folder / "predictions.rank1.jsonl").write_text("".join(rows[2:4]))
    (folder / "predictions.rank0.jsonl").write_text(rows[0] + rows[4][:15])
    (folder / "predictions.jsonl").unlink()
    backends = [FakeBackend(), FakeBackend(), FakeBackend()]
    summaries = _sharded(samdata_folder, out, 3, backends, batch_size=2)
    assert (folder / "predictions.jsonl").read_bytes() == expected
    # Rerun with 3 ranks: batch k is rank k's; only 2_c and 2_d (batch 2) were missing, besides the unreadable file.
    assert [b.calls for b in backends] == [[], [], [2]]
    assert {(s.reused, s.generated, s.errors) for s in summaries} == {(3, 2, 1)}
    assert not list(folder.glob("predictions.rank*.jsonl"))
