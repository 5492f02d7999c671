"""grpo.stages over EarthDial shards: the plan's shard stages become earthdial-format GRPO runs, and a real stage
trains the tiny model on two-image change-captioning rows (slow)."""

import json
import os

import pytest
import torch
import yaml

from common.modeling import load_model
from grpo.stages import Stage, load_plan, main, plan_stages, stage_argv
from offline.synthetic.earthdial import EARTHDIAL_SHARDS


def write_plan(tmp_path, stages, recipe="configs/grpo/geovlm_r1.yaml"):
    plan = {"model_name_or_path": "start", "data_root": "data", "output_dir": "out", "recipe": recipe, "stages": stages}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_shard_stages_become_earthdial_runs(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(repo_root)
    stages = [
        {"task": "vqa", "shards": ["a/LR", "a/HR"]},
        {"task": "change_captioning", "shards": ["b/LEVIR"], "overrides": ["--max_completion_length", 1024]},
    ]
    planned = plan_stages(load_plan(str(write_plan(tmp_path, stages))), "runs/g")
    assert planned == [
        Stage(1, "vqa", "configs/grpo/geovlm_r1.yaml", "runs/g/stages/01_vqa", ("a/LR", "a/HR"), ()),
        Stage(
            2,
            "change_captioning",
            "configs/grpo/geovlm_r1.yaml",
            "runs/g/stages/02_change_captioning",
            ("b/LEVIR",),
            ("--max_completion_length", "1024"),
        ),
    ]
    # The stage's own overrides come before the command line's, so the command line wins.
    assert stage_argv(planned[1], "runs/g/stages/01_vqa", "D", ["--max_steps", "5"]) == [
        "--config", "configs/grpo/geovlm_r1.yaml",
        "--model_name_or_path", "runs/g/stages/01_vqa",
        "--dataset_name", "D/b/LEVIR",
        "--dataset_format", "earthdial",
        "--dataset_tasks", "change_captioning",
        "--output_dir", "runs/g/stages/02_change_captioning",
        "--max_completion_length", "1024",
        "--max_steps", "5",
    ]  # fmt: skip
    assert stage_argv(planned[0], "m", "D", [])[5] == "D/a/LR,D/a/HR"


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        # A shard stage with an empty shard list (no `shards` key at all is a JSONL stage).
        ([{"task": "vqa", "shards": []}], r"stage 0: 'shards' must be a non-empty list"),
        # A shard stage without a task.
        ([{"shards": ["a"]}], r"stage 0: needs 'task'"),
        # Overrides that are not a list.
        ([{"task": "vqa", "shards": ["a"], "overrides": "--max_steps 5"}], "'overrides' must be a list"),
    ],
)
def test_bad_shard_stages(repo_root, tmp_path, monkeypatch, stages, message):
    monkeypatch.chdir(repo_root)
    with pytest.raises(SystemExit, match=message):
        load_plan(str(write_plan(tmp_path, stages)))


def test_the_paper_plan_covers_every_family_on_training_shards(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    plan = load_plan("configs/grpo/geovlm_stages.yaml")
    stages = plan_stages(plan, plan["output_dir"])
    families = {shard.family for shard in EARTHDIAL_SHARDS.values()}
    assert [s.task for s in stages][:3] == ["classification", "multilabel", "vqa"]
    assert {s.task for s in stages} == families and len(stages) == len(families)
    # Each stage reads the synthetic training shard of its family, so the plan runs on `offline.synthetic` output.
    train = {shard.family: shard.path.removeprefix("earthdial/") for shard in EARTHDIAL_SHARDS.values() if shard.train}
    assert all(s.shards == (train[s.task],) for s in stages)


@pytest.mark.slow
def test_change_captioning_stage_trains_on_image_pairs(repo_root, tiny_model_dir, synthetic_dir, tmp_path):
    # One stage on the two-image LEVIR-style training shard with the demo recipe (CPU sizes). earthdial_caption
    # scores the tiny model's text against the five references; completion_length adds the group variance that
    # makes gradients non-zero (PLATFORM.md test pitfall). Took 13 s on 2 idle cores (42 s on a loaded machine).
    stages = [{"task": "change_captioning", "shards": ["training_set/Change_Detection_Shards/LEVIR_CC"]}]
    plan = write_plan(tmp_path, stages, recipe="configs/grpo/demo.yaml")
    out = tmp_path / "run"
    argv = [
        "--config", str(plan), "--model_name_or_path", str(tiny_model_dir),
        "--data_root", str(synthetic_dir / "earthdial"), "--output_dir", str(out),
        "--max_steps", "2", "--per_device_train_batch_size", "8", "--max_completion_length", "12",
        "--report_to", "none", "--logging_steps", "1", "--think_tag", "think",
        "--reward_funcs", "format", "earthdial_caption", "completion_length", "--reward_weights", "1", "1", "1",
    ]  # fmt: skip
    cwd = os.getcwd()
    os.chdir(repo_root)
    try:
        assert main(argv) == 0
    finally:
        os.chdir(cwd)
    stage = out / "stages/01_change_captioning"
    assert json.loads((stage / "stage.json").read_text())["task"] == "change_captioning"
    history = json.loads((stage / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in history if "loss" in entry]
    assert len(steps) == 2 and all(0.0 <= e["rewards/earthdial_caption/mean"] <= 1.0 for e in steps)
    before = dict(load_model(tiny_model_dir, dtype="float32").named_parameters())
    after = dict(load_model(out, dtype="float32").named_parameters())
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert any("visual" in name for name in changed) and any("layers" in name for name in changed)
