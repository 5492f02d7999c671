"""grpo.stages: GeoVLM-R1's task-by-task GRPO, each stage from the previous stage's checkpoint, resumable stage by
stage, the final model copied to the output folder."""

import json

import pytest
import yaml

from grpo.stages import Stage, load_plan, main, plan_stages, stage_argv


def write_plan(tmp_path, **fields):
    plan = {
        "model_name_or_path": "start",
        "data_root": "data",
        "output_dir": "out",
        "recipe": "configs/grpo/geovlm_r1.yaml",
        "stages": ["classification", "vqa", "counting"],
        **fields,
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_plan_order_paths_and_subsets(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(repo_root)
    plan = load_plan(str(write_plan(tmp_path)))
    stages = plan_stages(plan, "runs/g")
    assert [(s.index, s.task, s.output_dir) for s in stages] == [
        (1, "classification", "runs/g/stages/01_classification"),
        (2, "vqa", "runs/g/stages/02_vqa"),
        (3, "counting", "runs/g/stages/03_counting"),
    ]
    assert [s.index for s in plan_stages(plan, "runs/g", ["counting", "classification"])] == [1, 3]
    with pytest.raises(SystemExit, match="not in the plan"):
        plan_stages(plan, "runs/g", ["segmentation"])


def test_stage_arguments_chain_the_models():
    stage = Stage(2, "vqa", "configs/grpo/geovlm_r1.yaml", "o/stages/02_vqa")
    assert stage_argv(stage, "o/stages/01_classification", "D", ["--max_steps", "5"]) == [
        "--config", "configs/grpo/geovlm_r1.yaml",
        "--model_name_or_path", "o/stages/01_classification",
        "--dataset_name", "D/vqa.jsonl",
        "--dataset_format", "jsonl",
        "--image_folder", "D/images",
        "--dataset_tasks", "vqa",
        "--output_dir", "o/stages/02_vqa",
        "--max_steps", "5",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"stages": []}, "non-empty 'stages'"),
        ({"recipe": None}, "needs 'recipe'"),
        ({"recipe": "x/{task}.yaml"}, "no recipe"),
    ],
)
def test_bad_plans(repo_root, tmp_path, monkeypatch, fields, message):
    monkeypatch.chdir(repo_root)
    with pytest.raises(SystemExit, match=message):
        plan_stages(load_plan(str(write_plan(tmp_path, **fields))), "o")


@pytest.mark.slow
def test_two_stages_run_chain_resume_and_copy_the_final_model(
    repo_root, tiny_model_dir, synthetic_dir, tmp_path, caplog
):
    # The demo recipe (CPU sizes) for every stage; the think-tag prompt and GeoVLM rewards as in the paper recipes.
    plan = write_plan(tmp_path, recipe="configs/grpo/demo.yaml", stages=["vqa", "counting"])
    out = tmp_path / "run"
    argv = [
        "--config", str(plan), "--model_name_or_path", str(tiny_model_dir), "--data_root", str(synthetic_dir / "geovlm"),
        "--output_dir", str(out), "--max_steps", "1", "--per_device_train_batch_size", "4",
        "--max_completion_length", "8", "--report_to", "none", "--think_tag", "think",
        "--reward_funcs", "format", "geovlm_accuracy", "completion_length", "--reward_weights", "1", "1", "1",
    ]  # fmt: skip
    import os

    cwd = os.getcwd()
    os.chdir(repo_root)
    try:
        assert main(argv) == 0
        first = json.loads((out / "stages/01_vqa/stage.json").read_text())
        second = json.loads((out / "stages/02_counting/stage.json").read_text())
        assert first["started_from"] == str(tiny_model_dir)
        assert second["started_from"] == str(out / "stages/01_vqa")
        assert (out / "model.safetensors").read_bytes() == (out / "stages/02_counting/model.safetensors").read_bytes()
        assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
        assert not (out / "stage.json").exists() and not (out / "trainer_state.json").exists()
        caplog.clear()
        with caplog.at_level("INFO", logger="grpo.stages"):
            assert main(argv) == 0
        assert "stage 1 vqa: done earlier" in caplog.text and "stage 2 counting: done earlier" in caplog.text
    finally:
        os.chdir(cwd)
