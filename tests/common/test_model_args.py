"""One model-argument vocabulary (common.model_args) for both stages, and the SFT papers' 2U1 flag names as aliases
(common.flag_aliases): the same parse from old and new names, conflicts refused, unsupported fields refused."""

import dataclasses
import logging
from pathlib import Path

import pytest

from common.flag_aliases import PAPER_SFT_ALIASES, translate_argv, translate_mapping
from common.provenance import resolved_config
from grpo.configs import GRPOModelArguments, GRPOScriptArguments
from grpo.rewards import RewardOptions
from grpo.train import parse_args as grpo_parse_args
from sft.configs import SFTModelArguments
from sft.train import build_parser

# The SAMChat-Distill paper command's model flags (2U1's names, SPEC 3) with LoRA / QLoRA switched on, as a user of the
# upstream scripts would write them, and the same command in the canonical names.
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPE = ["--config", str(CONFIGS / "sft/samchat_distill.yaml"), "--output_dir", "runs/x"]
OLD = [*RECIPE, "--lora_enable", "True", "--freeze_llm", "True", "--freeze_vision_tower", "True",
       "--vision_lora", "True", "--lora_rank", "8", "--lora_alpha", "16", "--lora_dropout", "0.05",
       "--lora_namespan_exclude", "lm_head", "embed_tokens", "qkv", "--num_lora_modules", "12", "--bits", "16"]  # fmt: skip
NEW = [*RECIPE, "--use_peft", "True", "--freeze_llm", "True", "--freeze_vision_tower", "True",
       "--vision_lora", "True", "--lora_r", "8", "--lora_alpha", "16", "--lora_dropout", "0.05",
       "--lora_exclude_modules", "lm_head", "embed_tokens", "qkv", "--num_lora_modules", "12",
       "--load_in_4bit", "false", "--load_in_8bit", "false"]  # fmt: skip


def sft_parse(argv):
    parser = build_parser()
    data, model, training = parser.parse_args_and_config(argv)
    return resolved_config({"data": data, "model": model, "training": training}), parser


def test_paper_command_with_2u1_names_parses_to_the_canonical_config():
    old, old_parser = sft_parse(OLD)
    new, new_parser = sft_parse(NEW)
    assert old == new  # every field of the three groups, as the run record writes them
    assert (old["model"]["use_peft"], old["model"]["lora_r"], old["model"]["lora_exclude_modules"]) == (
        True,
        8,
        ["lm_head", "embed_tokens", "qkv"],
    )
    assert old_parser.applied_aliases == [
        "--lora_enable -> --use_peft",
        "--lora_rank -> --lora_r",
        "--lora_namespan_exclude -> --lora_exclude_modules",
        "--bits -> --load_in_4bit / --load_in_8bit (4, 8 or 16)",
    ]
    assert new_parser.applied_aliases == []


def test_2u1_names_as_recipe_keys_parse_to_the_canonical_config(tmp_path):
    recipe = tmp_path / "old.yaml"
    recipe.write_text(
        "model_name_or_path: m\nlora_enable: true\nfreeze_llm: true\nlora_rank: 8\nbits: 16\n"
        "lora_namespan_exclude: [lm_head]\n"
    )
    canonical = tmp_path / "new.yaml"
    canonical.write_text(
        "model_name_or_path: m\nuse_peft: true\nfreeze_llm: true\nlora_r: 8\nload_in_4bit: false\n"
        "load_in_8bit: false\nlora_exclude_modules: [lm_head]\n"
    )
    old, parser = sft_parse(["--config", str(recipe), "--output_dir", "o"])
    new, _ = sft_parse(["--config", str(canonical), "--output_dir", "o"])
    assert old == new
    assert parser.applied_aliases == [
        "lora_enable -> use_peft",
        "lora_rank -> lora_r",
        "bits -> load_in_4bit / load_in_8bit (4, 8 or 16)",
        "lora_namespan_exclude -> lora_exclude_modules",
    ]


def test_command_line_overrides_a_recipe_whichever_names_each_uses(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_name_or_path: m\nuse_peft: true\nfreeze_llm: true\nlora_r: 8\n")
    config, _ = sft_parse(["--config", str(recipe), "--output_dir", "o", "--lora_rank", "4"])
    assert config["model"]["lora_r"] == 4


@pytest.mark.parametrize(
    "bits, flags",
    [
        (4, {"load_in_4bit": True, "load_in_8bit": False}),  # QLoRA 4-bit (nf4)
        (8, {"load_in_4bit": False, "load_in_8bit": True}),  # 8-bit
        (16, {"load_in_4bit": False, "load_in_8bit": False}),  # 2U1's default: no quantisation
    ],
)
def test_bits_maps_onto_the_load_in_flags(bits, flags):
    config, _ = sft_parse([*RECIPE, "--lora_enable", "--freeze_llm", "true", "--bits", str(bits)])
    assert {name: config["model"][name] for name in flags} == flags
    assert config["model"]["use_peft"] is True  # a bare boolean flag means true, as argparse reads it


@pytest.mark.parametrize(
    "extra, message",
    [
        # an alias and its canonical name disagreeing on the command line
        (["--lora_rank", "8", "--lora_r", "4"], "--lora_rank 8 (2U1's name) and --lora_r 4 disagree"),
        (["--bits", "4", "--load_in_4bit", "false"], "--bits 4 (2U1's name) and --load_in_4bit False disagree"),
        # a value 2U1 never had
        (["--bits", "5"], "bits=5: must be one of (4, 8, 16)"),
    ],
)
def test_conflicting_or_bad_alias_on_the_command_line_is_one_error(extra, message, capsys):
    with pytest.raises(SystemExit) as stop:
        sft_parse([*RECIPE, *extra])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_conflicting_alias_in_a_recipe_is_one_error(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_name_or_path: m\nlora_rank: 8\nlora_r: 4\n")
    with pytest.raises(SystemExit) as stop:
        sft_parse(["--config", str(recipe), "--output_dir", "o"])
    assert stop.value.code == 2
    assert f"--config {recipe}: lora_rank=8 (2U1's name) and lora_r=4 disagree" in capsys.readouterr().err


def test_alias_and_canonical_name_agreeing_are_accepted():
    config, _ = sft_parse([*RECIPE, "--lora_rank", "8", "--lora_r", "8"])
    assert config["model"]["lora_r"] == 8


@pytest.mark.parametrize(
    "argv, expected",
    [
        # `--flag=value` form
        (["--lora_rank=8"], ["--lora_r", "8"]),
        # a bare boolean flag, then another flag
        (["--lora_enable", "--x", "1"], ["--use_peft", "--x", "1"]),
        # the dashed spelling argparse accepts for every field
        (["--lora-rank", "8"], ["--lora_r", "8"]),
        # a list value
        (["--lora_namespan_exclude", "a", "b"], ["--lora_exclude_modules", "a", "b"]),
        # bits expands to both canonical flags
        (["--bits", "8"], ["--load_in_4bit", "false", "--load_in_8bit", "true"]),
        # nothing to translate
        (["--lora_r", "8"], ["--lora_r", "8"]),
    ],
)
def test_translate_argv(argv, expected):
    assert translate_argv(argv, PAPER_SFT_ALIASES)[0] == expected


def test_translate_mapping_keeps_other_keys():
    values, applied = translate_mapping({"lora_enable": True, "learning_rate": 1e-5}, PAPER_SFT_ALIASES, where="r")
    assert values == {"learning_rate": 1e-5, "use_peft": True} and applied == ["lora_enable -> use_peft"]


def test_help_lists_the_aliases(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args_and_config(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--lora_enable -> --use_peft" in out and "--bits -> --load_in_4bit / --load_in_8bit (4, 8 or 16)" in out


def test_the_mapping_is_logged_once(caplog):
    parser = build_parser()
    parser.parse_args_and_config([*RECIPE, "--lora_enable", "true", "--freeze_llm", "true", "--lora_rank", "8"])
    with caplog.at_level(logging.INFO, logger="common.cli"):
        parser.log_aliases()
    assert [r.getMessage() for r in caplog.records if r.name == "common.cli"] == [
        "paper flag names mapped onto canonical ones: --lora_enable -> --use_peft, --lora_rank -> --lora_r"
    ]


def test_both_stages_share_one_vocabulary():
    sft = {f.name for f in dataclasses.fields(SFTModelArguments)}
    grpo = {f.name for f in dataclasses.fields(GRPOModelArguments)}
    # trust_remote_code is trl.GRPOConfig's own field in GRPO (a second definition would collide there).
    assert sft - grpo == {"trust_remote_code"} and grpo <= sft


@pytest.mark.parametrize(
    "field, sft_default, grpo_default",
    [
        ("lora_r", 64, 16),  # 2U1's default (SFT papers' code) / TRL's (GRPO papers' code)
        ("lora_alpha", 16, 32),
        ("use_bnb_nested_quant", True, False),  # 2U1 always double-quantised
        ("dtype", "auto", "auto"),  # one meaning: the training precision
        ("attn_implementation", "auto", "auto"),
        ("freeze_vision_tower", False, False),
        ("freeze_llm", False, False),
        ("tune_merger", True, True),
    ],
)
def test_stage_defaults(field, sft_default, grpo_default):
    assert getattr(SFTModelArguments(), field) == sft_default
    assert getattr(GRPOModelArguments(), field) == grpo_default


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"use_peft": True, "freeze_llm": True, "lora_target_modules": ["q_proj"]}, "lora_target_modules=.*SFT"),
        ({"lora_modules_to_save": ["merger"]}, "lora_modules_to_save=.*freeze flags"),
        ({"lora_task_type": "SEQ_CLS"}, "lora_task_type='SEQ_CLS': not implemented by the SFT stage"),
        ({"model_revision": "v1"}, "model_revision='v1': not implemented"),
    ],
)
def test_sft_rejects_what_it_does_not_implement(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SFTModelArguments(model_name_or_path="m", **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vision_lora": True}, "vision_lora=True: not implemented by the GRPO stage"),
        ({"num_lora_modules": 4}, "num_lora_modules=4"),
        ({"lora_exclude_modules": ["qkv"]}, "lora_exclude_modules"),
        # silently ignored before: GRPO never quantised
        ({"use_peft": True, "load_in_4bit": True}, "load_in_4bit=True: not implemented by the GRPO stage"),
        ({"use_peft": True, "load_in_8bit": True}, "load_in_8bit=True"),
        # under LoRA, PEFT decides what trains fully (lora_modules_to_save)
        ({"use_peft": True, "freeze_llm": True}, "freeze_llm=True: .*lora_modules_to_save"),
        ({"use_peft": True, "tune_merger": False}, "tune_merger=False"),
    ],
)
def test_grpo_rejects_what_it_does_not_implement(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOModelArguments(model_name_or_path="m", **kwargs)


def test_grpo_accepts_the_freeze_flags_for_full_fine_tuning():
    args = GRPOModelArguments(model_name_or_path="m", freeze_llm=True, tune_merger=False, freeze_vision_tower=True)
    assert (args.freeze_llm, args.tune_merger, args.freeze_vision_tower) == (True, False, True)


def test_grpo_script_arguments_reuse_reward_options():
    reward = {f.name: f for f in dataclasses.fields(RewardOptions)}
    script = {f.name: f for f in dataclasses.fields(GRPOScriptArguments)}
    for name, field in reward.items():
        # inherited: the same field object, so default and help cannot drift apart
        assert script[name] is field, name
        assert field.metadata["help"], name


def test_grpo_reward_options_come_from_the_recipe_and_command_line():
    script, _, _ = grpo_parse_args(
        [
            "--config",
            str(CONFIGS / "grpo/demo.yaml"),
            "--output_dir",
            "o",
            "--keywords",
            "tank",
            "radar",
            "--iou_mode",
            "upstream",
        ]
    )
    assert script.reward_options() == RewardOptions(
        think_tag="reasoning",
        answer_tag="answer",
        format_mode="search",
        keywords=("tank", "radar"),
        iou_mode="upstream",
    )
    assert type(script.reward_options()) is RewardOptions and script.keywords == ("tank", "radar")


def test_grpo_bad_reward_option_is_one_error(capsys):
    with pytest.raises(SystemExit) as stop:
        grpo_parse_args(["--config", str(CONFIGS / "grpo/demo.yaml"), "--output_dir", "o", "--iou_mode", "buggy"])
    assert stop.value.code == 2
    assert "iou_mode must be one of ('correct', 'upstream'), got 'buggy'" in capsys.readouterr().err


def test_run_record_lists_every_group_in_the_new_names():
    # What common.provenance writes into rs_r1_run.yaml: the model group holds the shared vocabulary in both stages.
    sft, _ = sft_parse(OLD)
    assert {"use_peft", "lora_r", "lora_exclude_modules", "load_in_4bit", "freeze_llm"} <= set(sft["model"])
    assert not {"lora_enable", "lora_rank", "bits", "lora_namespan_exclude"} & set(sft["model"])
    script, training, model = grpo_parse_args(["--config", str(CONFIGS / "grpo/demo.yaml"), "--output_dir", "o"])
    grpo = resolved_config({"script": script, "model": model, "training": training})
    assert grpo["model"]["freeze_vision_tower"] is False and "freeze_vision_tower" not in grpo["script"]
    assert (grpo["model"]["dtype"], grpo["model"]["lora_r"]) == ("float32", 16)
    assert grpo["script"]["keywords"] == ["military", "missile", "silo"] and grpo["script"]["iou_mode"] == "correct"


# SAMChat-Base's SFT command as the SAMChat README gives it (SPEC 3), after the shell expanded it; two substitutions:
# our DeepSpeed config for upstream's scripts/zero3_offload.json (SPEC 7.3) and a data path.
PAPER_SFT = ["--deepspeed", "configs/deepspeed/zero3_offload.json", "--model_id", "Qwen/Qwen2-VL-2B-Instruct",
             "--data_path", "DATA/SAMData-300-Train/sam_300_inst.json", "--image_folder", "DATA/SAMData-300-Train",
             "--remove_unused_columns", "False", "--freeze_vision_tower", "False", "--freeze_llm", "False",
             "--tune_merger", "True", "--bf16", "True", "--fp16", "False", "--disable_flash_attn2", "False",
             "--output_dir", "output/qwen_sam_300", "--num_train_epochs", "1", "--per_device_train_batch_size", "16",
             "--gradient_accumulation_steps", "2", "--image_min_pixels", "401408", "--image_max_pixels", "1003520",
             "--learning_rate", "1e-5", "--merger_lr", "1e-5", "--vision_lr", "2e-6", "--weight_decay", "0.1",
             "--warmup_ratio", "0.03", "--lr_scheduler_type", "cosine", "--logging_steps", "1", "--tf32", "True",
             "--gradient_checkpointing", "True", "--report_to", "tensorboard", "--lazy_preprocess", "True",
             "--save_strategy", "steps", "--save_steps", "200", "--save_total_limit", "5",
             "--dataloader_num_workers", "4"]  # fmt: skip
CANONICAL = {"--model_id": "--model_name_or_path", "--warmup_ratio": "--warmup_steps"}


def test_the_papers_sft_command_parses_as_written():
    paper, parser = sft_parse(PAPER_SFT)
    argv = [CANONICAL.get(token, token) for token in PAPER_SFT]
    at = argv.index("--disable_flash_attn2")
    argv[at : at + 2] = ["--attn_implementation", "flash_attention_2"]
    at = argv.index("--lazy_preprocess")
    del argv[at : at + 2]
    canonical, _ = sft_parse(argv)
    assert paper == canonical
    assert parser.applied_aliases == [
        "--model_id -> --model_name_or_path",
        "--disable_flash_attn2 -> --attn_implementation (false: flash_attention_2, true: sdpa)",
        "--warmup_ratio -> --warmup_steps (transformers 5 reads warmup_steps < 1 as a ratio)",
        "--lazy_preprocess -> (nothing) (true only: records are always encoded lazily)",
    ]
    # The recipe reproduces the command: every field the command sets, except where the recipe chooses by
    # availability (attention), names its own output folder, or sets what the released run actually used instead of
    # what the command said (its DeepSpeed optimizer / scheduler blocks ignored vision_lr and cosine: SPEC 7.22, 7.23).
    recipe, _ = sft_parse(["--config", str(CONFIGS / "sft/samchat_base.yaml")])
    differ = {
        (group, key)
        for group in paper
        for key in paper[group]
        if paper[group][key] != recipe[group][key] and f"--{key}" in argv
    }
    assert differ == {
        ("model", "attn_implementation"),
        ("training", "output_dir"),
        ("training", "vision_lr"),
        ("training", "lr_scheduler_type"),
    }


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lazy_preprocess", "False"], "lazy_preprocess=False: not implemented"),
        (["--warmup_ratio", "3"], "warmup_ratio=3: must be a fraction in [0, 1)"),
        (["--disable_flash_attn2", "maybe"], "disable_flash_attn2='maybe': must be true or false"),
    ],
)
def test_paper_flags_with_values_we_cannot_honour_are_one_error(extra, message, capsys):
    with pytest.raises(SystemExit) as stop:
        sft_parse([*RECIPE, *extra])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


# The SAMChat / TinyRS GRPO command (SPEC 4) after the shell expanded it, our zero3.json for upstream's
# local_scripts/zero3.json, and 4 accumulation steps for the paper's 4 GPUs (TRL refuses G = 4 on 1 x 1).
PAPER_GRPO = ["--deepspeed", "configs/deepspeed/zero3.json", "--output_dir", "checkpoints/run",
              "--model_name_or_path", "aybora/Qwen2-VL-SAMChat-Distill", "--dataset_name", "aybora/VHM_dataset_grpo",
              "--max_prompt_length", "8192", "--max_completion_length", "8192", "--per_device_train_batch_size", "1",
              "--gradient_accumulation_steps", "4", "--logging_steps", "1", "--bf16", "true", "--beta", "0.001",
              "--report_to", "wandb", "--gradient_checkpointing", "true", "--attn_implementation",
              "flash_attention_2", "--max_pixels", "2359296", "--save_total_limit", "6", "--num_train_epochs", "64",
              "--num_generations", "4", "--save_steps", "100", "--run_name", "run"]  # fmt: skip


def test_the_papers_grpo_command_parses_as_written(caplog):
    with caplog.at_level(logging.INFO, logger="common.cli"):
        script, training, model = grpo_parse_args(PAPER_GRPO)
    paper = resolved_config({"script": script, "model": model, "training": training})
    argv = ["--image_max_pixels" if token == "--max_pixels" else token for token in PAPER_GRPO]
    at = argv.index("--max_prompt_length")
    del argv[at : at + 2]
    script, training, model = grpo_parse_args(argv)
    assert paper == resolved_config({"script": script, "model": model, "training": training})
    assert paper["script"]["image_max_pixels"] == 2359296
    logged = [r.getMessage() for r in caplog.records if r.name == "common.cli"]
    assert logged == [
        "paper flag names mapped onto canonical ones: --max_prompt_length -> (nothing) (no effect: TRL 1.x never "
        "cuts prompts, and the papers' prompts are far shorter than their 8192), --max_pixels -> --image_max_pixels"
    ]
