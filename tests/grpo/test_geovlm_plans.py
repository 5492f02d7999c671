"""The two GeoVLM-R1 stage plans over the one recipe (configs/grpo/geovlm_r1.yaml): every stage of both plans parses
to the GRPO arguments that the per-task recipes gave it before they were merged (issue 13 item 8), and the plan's
options, the stage's own and the command line's stack in that order."""

import pytest
import yaml

from grpo.stages import load_plan, plan_stages, stage_argv
from grpo.train import parse_args

# As tests/grpo/test_configs.py: bf16 needs a GPU and one prompt per device needs 4 processes; these three keys are
# the test's, every other value is the plan's.
CPU = ["--bf16", "false", "--use_cpu", "true", "--per_device_train_batch_size", "4"]

# Values every stage of both plans had in the eight recipes (geovlm_<task>.yaml x 7, geovlm_earthdial.yaml).
COMMON = {
    "model_name_or_path": "runs/geovlm/geovlm_sft",  # the plans' start model (stage 1; later stages chain)
    "dtype": "bfloat16",
    "attn_implementation": "auto",
    "image_min_pixels": 3136,
    "image_max_pixels": 2359296,
    "freeze_vision_tower": False,
    "think_tag": "think",
    "answer_tag": "answer",
    "reward_weights": [1.0, 1.0],
    "format_mode": "fullmatch",
    "caption_metric": "rouge_l",
    "loss_type": "grpo",
    "beta": 0.001,
    "num_generations": 4,
    "temperature": 1.0,
    "scale_rewards": "group",
    "num_train_epochs": 1,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-6,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "seed": 42,
    "gradient_checkpointing": True,
    "deepspeed": "configs/deepspeed/zero3.json",
    "logging_steps": 1,
    "save_steps": 100,
    "save_total_limit": 6,
    "report_to": ["wandb"],
    "log_completions": True,
}

JSONL = "configs/grpo/geovlm_jsonl_stages.yaml"
EARTHDIAL = "configs/grpo/geovlm_stages.yaml"
# What the two plans' stages differed in (geovlm_<task>.yaml against geovlm_earthdial.yaml); box_frame "pixels" is
# the field's default, which geovlm_earthdial.yaml left unset.
PLAN = {
    JSONL: {
        "reward_funcs": ["format", "geovlm_accuracy"],
        "box_frame": "input",
        "dataset_format": "jsonl",
        "image_folder": "DATA/geovlm/images",
    },
    EARTHDIAL: {
        "reward_funcs": ["format", "earthdial_accuracy"],
        "box_frame": "pixels",
        "dataset_format": "earthdial",
        "image_folder": None,
    },
}

OUT = "runs/geovlm/geovlm_r1/stages/"
SHARDS = "DATA/EarthDial-Dataset/training_set/"
STAGES = [
    # JSONL plan: <data_root>/<task>.jsonl, 2048-token completions in every stage (the seven geovlm_<task>.yaml)
    (JSONL, "01_classification", "DATA/geovlm/classification.jsonl", 2048),
    (JSONL, "02_vqa", "DATA/geovlm/vqa.jsonl", 2048),
    (JSONL, "03_counting", "DATA/geovlm/counting.jsonl", 2048),
    (JSONL, "04_multilabel", "DATA/geovlm/multilabel.jsonl", 2048),
    (JSONL, "05_referring_detection", "DATA/geovlm/referring_detection.jsonl", 2048),
    (JSONL, "06_detection", "DATA/geovlm/detection.jsonl", 2048),
    (JSONL, "07_captioning", "DATA/geovlm/captioning.jsonl", 2048),
    # EarthDial plan: one training shard per family, 512-token completions (geovlm_earthdial.yaml) ...
    (EARTHDIAL, "01_classification", SHARDS + "Classification_Shards/AID", 512),
    (EARTHDIAL, "02_multilabel", SHARDS + "Classification_Shards/BigEarthNet_RGB", 512),
    (EARTHDIAL, "03_vqa", SHARDS + "VQA_Shards/RSVQA_LR", 512),
    (EARTHDIAL, "04_temporal_classification", SHARDS + "Disaster_Shards/xBD_disaster_type", 512),
    (EARTHDIAL, "05_region_classification", SHARDS + "Disaster_Shards/xBD_region_classification", 512),
    (EARTHDIAL, "06_referring_detection", SHARDS + "Visual_Grounding_Shards/RSVG", 512),
    (EARTHDIAL, "07_referred_detection", SHARDS + "Disaster_Shards/xBD_referred_object_detection", 512),
    (EARTHDIAL, "08_detection", SHARDS + "Disaster_Shards/xBD_object_detection", 512),
    (EARTHDIAL, "09_region_captioning", SHARDS + "Region_Captioning_Shards/NWPU_VHR_10", 512),
    # ... except the free-text stages, whose own overrides raise it to 1024
    (EARTHDIAL, "10_image_captioning", SHARDS + "Image_Captioning_Shards/RSICD", 1024),
    (EARTHDIAL, "11_change_captioning", SHARDS + "Change_Detection_Shards/LEVIR_CC", 1024),
    (EARTHDIAL, "12_grounding_description", SHARDS + "Grounding_Description_Shards/NWPU_VHR_10", 1024),
]


def parsed(argv: list[str]) -> dict:
    """The three argument groups as one mapping field -> value (field names are unique across the groups)."""
    values = {}
    for group in parse_args(argv):
        values.update(vars(group))
    return values


@pytest.fixture(scope="module")
def plan_argv(repo_root):
    """Each stage's argv, keyed (plan, NN_task), with the plan's own start model, data root and output folder."""
    argv = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo_root)  # the plans name their recipe relative to the repository root, where they are run
        for path in (JSONL, EARTHDIAL):
            plan = load_plan(path)
            for stage in plan_stages(plan, plan["output_dir"]):
                key = (path, f"{stage.index:02d}_{stage.task}")
                argv[key] = stage_argv(stage, plan["model_name_or_path"], plan["data_root"], CPU)
    return argv


def test_the_table_lists_every_stage_of_both_plans(plan_argv):
    assert sorted(plan_argv) == sorted((plan, stage) for plan, stage, _, _ in STAGES)


@pytest.mark.parametrize(
    ("plan", "stage", "dataset", "length"),
    STAGES,
    ids=[f"{plan.split('/')[-1][:-5]}-{stage}" for plan, stage, *_ in STAGES],
)
def test_every_stage_keeps_the_arguments_of_its_former_recipe(repo_root, monkeypatch, plan_argv, plan, stage,
                                                             dataset, length):  # fmt: skip
    monkeypatch.chdir(repo_root)
    values = parsed(plan_argv[(plan, stage)])
    expected = {
        **COMMON,
        **PLAN[plan],
        "dataset_name": dataset,
        "dataset_tasks": stage[3:],
        "output_dir": OUT + stage,
        "max_completion_length": length,
    }
    assert {key: values[key] for key in expected} == expected


def test_every_stage_uses_the_one_recipe(plan_argv):
    assert {argv[argv.index("--config") + 1] for argv in plan_argv.values()} == {"configs/grpo/geovlm_r1.yaml"}


def write_plan(tmp_path, stages, **fields):
    plan = {"model_name_or_path": "m", "data_root": "D", "output_dir": "o", "recipe": "configs/grpo/geovlm_r1.yaml"}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({**plan, "stages": stages, **fields}))
    return str(path)


def test_plan_then_stage_then_command_line_options(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(repo_root)
    stages = [{"task": "vqa", "overrides": ["--max_completion_length", 200]}, "counting"]
    plan = load_plan(write_plan(tmp_path, stages, overrides=["--max_completion_length", 100, "--beta", 0.5]))
    first, second = plan_stages(plan, "o")
    # A JSONL stage written as a mapping: its own options after the plan's, no shards.
    assert (first.shards, first.overrides) == ((), ("--max_completion_length", "100", "--beta", "0.5",
                                                    "--max_completion_length", "200"))  # fmt: skip
    assert second.overrides == ("--max_completion_length", "100", "--beta", "0.5")
    cli = ["--max_completion_length", "300"]
    assert parsed(stage_argv(first, "m", "D", CPU))["max_completion_length"] == 200  # the stage wins over the plan
    assert parsed(stage_argv(second, "m", "D", CPU))["max_completion_length"] == 100  # the plan over the recipe
    assert parsed(stage_argv(first, "m", "D", [*CPU, *cli]))["max_completion_length"] == 300  # the command line last
    assert parsed(stage_argv(first, "m", "D", CPU))["beta"] == 0.5


@pytest.mark.parametrize(
    ("stages", "fields", "message"),
    [
        # A JSONL stage (no shards) whose overrides are one string, not a list.
        ([{"task": "vqa", "overrides": "--beta 0.5"}], {}, r"stage 0: 'overrides' must be a list"),
        # A list as an option value.
        (["vqa", {"task": "counting", "overrides": ["--reward_funcs", ["format"]]}], {}, r"stage 1: 'overrides'"),
        # A misspelt key would otherwise be ignored without a word.
        ([{"task": "vqa", "override": ["--beta", 0.5]}], {}, r"stage 0: unknown keys \['override'\]"),
        # A mapping stage without its task.
        ([{"overrides": ["--beta", 0.5]}], {}, r"stage 0: needs 'task' \(a string\)"),
        # Shards that are not folder names.
        ([{"task": "vqa", "shards": "a/LR"}], {}, r"stage 0: 'shards' must be a non-empty list of folders"),
        # Plan-level overrides as one string (it would be split into characters).
        (["vqa"], {"overrides": "--beta 0.5"}, r"plan.yaml: 'overrides' must be a list"),
    ],
)
def test_bad_stage_options(tmp_path, stages, fields, message):
    with pytest.raises(SystemExit, match=message):
        load_plan(write_plan(tmp_path, stages, **fields))


def test_plan_level_overrides_may_be_empty(repo_root, tmp_path, monkeypatch):
    # `overrides:` with no value (YAML null) reads as none, as before.
    monkeypatch.chdir(repo_root)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": "m", "data_root": "D", "output_dir": "o",
                                    "recipe": "configs/grpo/geovlm_r1.yaml", "stages": ["vqa"]}) + "overrides:\n")  # fmt: skip
    assert plan_stages(load_plan(str(path)), "o")[0].overrides == ()
