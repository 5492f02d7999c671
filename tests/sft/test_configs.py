"""sft.configs and the recipe files: every YAML loads, paper recipes carry the paper's values (SPEC 3), combination
rules (SPEC 3, 7.4), the DeepSpeed optimizer-block policy (SPEC 7.3) and the DeepSpeed configs themselves."""

import json
import logging

import pytest
from trl import TrlParser

from sft.configs import (
    DataArguments,
    SFTModelArguments,
    SFTTrainingArguments,
    check_deepspeed_optimizer,
    liger_available,
)

PAPER_RECIPES = ["samchat_base", "samchat_distill", "tinyrs_pretrain", "tinyrs_instruct", "tinyrs_cot", "geovlm_sft"]
# tf32 / bf16 need a GPU; the CPU test switches them off and checks the file's values separately.
CPU = ["--bf16", "false", "--tf32", "false"]


def parse(args):
    return TrlParser((DataArguments, SFTModelArguments, SFTTrainingArguments)).parse_args_and_config(args)


@pytest.mark.parametrize("name", [*PAPER_RECIPES, "demo"])
def test_every_recipe_loads_and_starts_with_its_command(repo_root, name):
    path = repo_root / "configs" / "sft" / f"{name}.yaml"
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ")
    header = "\n".join(line for line in lines if line.startswith("#"))
    assert f"configs/sft/{name}.yaml" in header or name == "demo"
    assert "python -m sft.train" in header or "-m sft.train" in header
    data, model, training = parse(["--config", str(path), *CPU])
    assert data.prompt_template == "paper"
    assert model.tune_merger and not model.freeze_llm and not model.freeze_vision_tower


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipes_have_the_paper_hyperparameters(repo_root, name):
    import yaml

    raw = yaml.safe_load((repo_root / "configs" / "sft" / f"{name}.yaml").read_text())
    assert raw["bf16"] is True and raw["tf32"] is True and raw["gradient_checkpointing"] is True
    data, model, training = parse(["--config", str(repo_root / "configs" / "sft" / f"{name}.yaml"), *CPU])
    assert training.gradient_checkpointing is True
    # global batch 128 = 16 per device x 4 GPUs x 2 accumulation steps
    assert (training.per_device_train_batch_size, training.gradient_accumulation_steps) == (16, 2)
    assert training.num_train_epochs == 1
    assert training.weight_decay == 0.1 and training.warmup_steps == 0.03
    step = (training.merger_lr, training.vision_lr, training.lr_scheduler_type, training.warmup_shape,
            training.weight_decay_exemptions, training.loss_normalization)  # fmt: skip
    if name == "geovlm_sft":  # no released SFT trainer: the command's stated schedule, the newer step
        assert step == (1e-5, 2e-6, "cosine", "linear", "norms_biases", "tokens")
    else:  # the released step (SPEC 7.21-7.24; tests/sft/test_released_step.py)
        assert step == (1e-5, 1e-5, "constant_with_warmup", "deepspeed_log", "none", "micro_batch")
    assert training.learning_rate == 1e-5 and training.max_grad_norm == 1.0
    assert (training.save_steps, training.save_total_limit, training.dataloader_num_workers) == (200, 5, 4)
    assert training.report_to == ["tensorboard"]
    assert training.deepspeed == "configs/deepspeed/zero3_offload.json"
    assert (data.image_min_pixels, data.image_max_pixels) == (512 * 28 * 28, 1280 * 28 * 28)


def test_cli_overrides_win_over_the_recipe(repo_root):
    data, model, training = parse([
        "--config", str(repo_root / "configs/sft/samchat_distill.yaml"), *CPU,
        "--model_name_or_path", "m", "--data_path", "d.json", "--image_folder", "imgs", "--output_dir", "o",
        "--prompt_template", "official", "--image_min_pixels", "3136", "--image_max_pixels", "12845056",
        "--vision_lr", "1e-6", "--merger_lr", "3e-6", "--max_steps", "7", "--save_steps", "3", "--report_to", "none",
    ])  # fmt: skip
    assert (model.model_name_or_path, data.data_path, data.image_folder, training.output_dir) == (
        "m",
        "d.json",
        "imgs",
        "o",
    )
    assert data.prompt_template == "official" and (data.image_min_pixels, data.image_max_pixels) == (3136, 12845056)
    assert (training.vision_lr, training.merger_lr, training.max_steps, training.save_steps) == (1e-6, 3e-6, 7, 3)
    assert training.report_to == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"use_peft": True}, "use_peft requires freeze_llm"),  # upstream rule
        ({"vision_lora": True, "freeze_vision_tower": True}, "vision_lora requires use_peft"),  # upstream rule
        ({"use_peft": True, "freeze_llm": True, "vision_lora": True}, "vision_lora requires .*freeze_vision_tower"),
        ({"use_dora": True}, "use_dora requires use_peft"),
        ({"load_in_4bit": True}, "require use_peft"),
        ({"load_in_4bit": True, "load_in_8bit": True, "use_peft": True, "freeze_llm": True}, "8 bit and 4 bit"),  # TRL
        ({"use_peft": True, "freeze_llm": True, "num_lora_modules": 0}, "num_lora_modules"),
        ({"freeze_llm": True, "freeze_vision_tower": True, "tune_merger": False}, "nothing to train"),
    ],
)
def test_model_argument_rules(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SFTModelArguments(model_name_or_path="m", **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"use_peft": True, "freeze_llm": True},
        {"use_peft": True, "freeze_llm": True, "vision_lora": True, "freeze_vision_tower": True, "use_dora": True},
        {"use_peft": True, "freeze_llm": True, "load_in_4bit": True},
        {"freeze_llm": True, "freeze_vision_tower": True},  # merger only
    ],
)
def test_model_argument_valid_combinations(kwargs):
    SFTModelArguments(model_name_or_path="m", **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt_template": "chatml"}, "prompt_template"),
        ({"overlong_policy": "drop"}, "overlong_policy"),
        ({"data_policy": "ignore"}, "data_policy"),
        ({"image_min_pixels": 10, "image_max_pixels": 5}, "image pixel limits"),
        ({"max_length": 0}, "max_length"),
    ],
)
def test_data_argument_rules(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataArguments(data_path="d.json", **kwargs)


def test_deepspeed_optimizer_block_with_per_module_rates_fails():
    config = {"optimizer": {"type": "AdamW", "params": {"lr": "auto"}}, "zero_optimization": {"stage": 3}}
    with pytest.raises(ValueError, match=r"ignore vision_lr=2e-06 \(learning_rate=1e-05\).*SPEC 7.3"):
        check_deepspeed_optimizer(config, learning_rate=1e-5, vision_lr=2e-6, merger_lr=1e-5)


def test_deepspeed_optimizer_block_without_per_module_rates_warns(caplog):
    config = {"optimizer": {"type": "AdamW"}, "scheduler": {"type": "WarmupLR"}}
    with caplog.at_level(logging.WARNING, logger="sft.configs"):
        check_deepspeed_optimizer(config, learning_rate=1e-5, vision_lr=None, merger_lr=1e-5)
    assert "'optimizer' and 'scheduler' block(s)" in caplog.text and "do NOT apply" in caplog.text


def test_training_config_applies_the_deepspeed_policy(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"optimizer": {"type": "AdamW"}, "train_micro_batch_size_per_gpu": "auto"}))
    with pytest.raises(ValueError, match="'optimizer' block"):
        SFTTrainingArguments(
            output_dir=str(tmp_path), deepspeed=str(path), learning_rate=1e-5, vision_lr=2e-6, use_cpu=True
        )


@pytest.mark.parametrize("name", ["zero2", "zero2_offload", "zero3", "zero3_offload"])
def test_deepspeed_configs(repo_root, name):
    config = json.loads((repo_root / "configs" / "deepspeed" / f"{name}.json").read_text())
    # No optimizer / scheduler: the trainer builds them with the per-module groups and the recipe's schedule.
    assert "optimizer" not in config and "scheduler" not in config
    assert config["train_micro_batch_size_per_gpu"] == "auto" and config["gradient_accumulation_steps"] == "auto"
    assert config["bf16"]["enabled"] == "auto"
    zero = config["zero_optimization"]
    assert zero["stage"] == int(name[4])
    assert ("offload_optimizer" in zero) == name.endswith("offload")
    if zero["stage"] == 3:
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.skipif(liger_available(), reason="Liger kernels usable here")
def test_liger_is_dropped_without_gpu(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="sft.configs"):
        config = SFTTrainingArguments(output_dir=str(tmp_path), use_liger_kernel=True, use_cpu=True)
    assert config.use_liger_kernel is False and "without Liger kernels" in caplog.text


def test_checkpointing_defaults_to_non_reentrant(tmp_path):
    # `gradient_checkpointing*`: the names transformers 5.17 (GPU lock) and 5.24 (CPU lock, as an alias) both read.
    config = SFTTrainingArguments(output_dir=str(tmp_path), gradient_checkpointing=True, use_cpu=True)
    assert config.gradient_checkpointing_kwargs == {"use_reentrant": False}


def test_empty_deepspeed_turns_it_off(repo_root):
    # issue 16: `--deepspeed ""` read '.' as a DeepSpeed config ("Is a directory"); as in GRPO it means no DeepSpeed.
    recipe = str(repo_root / "configs" / "sft" / "samchat_distill.yaml")
    _, _, training = parse(["--config", recipe, *CPU, "--deepspeed", ""])
    assert training.deepspeed is None
    assert training.deepspeed_plugin is None


def test_paper_recipe_parses_on_a_cpu_host(repo_root):
    # issue 16: without CUDA the recipe's bf16 / tf32 stopped at transformers' checks; now the CPU is chosen.
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only fallback")
    _, _, training = parse(["--config", str(repo_root / "configs" / "sft" / "samchat_distill.yaml"), "--deepspeed", ""])
    assert (training.use_cpu, training.tf32, training.bf16) == (True, None, True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss_normalization": "sum"}, "loss_normalization must be one of"),
        ({"weight_decay_exemptions": "norms"}, "weight_decay_exemptions must be one of"),
        ({"warmup_shape": "cosine"}, "warmup_shape must be one of"),
        # DeepSpeed's WarmupLR holds the peak after its warm-up; a decay after it would be neither schedule
        ({"warmup_shape": "deepspeed_log", "lr_scheduler_type": "cosine"}, "needs lr_scheduler_type constant_with_"),
    ],
)
def test_training_argument_rules(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SFTTrainingArguments(output_dir=str(tmp_path), use_cpu=True, **kwargs)


def test_a_recipe_mixing_the_released_warmup_with_cosine_is_one_line(repo_root, capsys):
    from sft.train import build_parser

    recipe = str(repo_root / "configs/sft/tinyrs_cot.yaml")
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args_and_config(["--config", recipe, *CPU, "--lr_scheduler_type", "cosine"])
    assert exit_info.value.code == 2
    assert "warmup_shape deepspeed_log is DeepSpeed's WarmupLR" in capsys.readouterr().err.splitlines()[-1]


def test_print_config_prints_the_resolved_recipe_without_a_model(repo_root, capsys):
    import yaml

    from sft.train import main

    # The recipe's model (a Hub id) cannot load offline: printing must not try.
    assert main(["--config", str(repo_root / "configs/sft/tinyrs_cot.yaml"), *CPU, "--print-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert list(config) == ["data", "model", "training"]
    assert config["model"]["model_name_or_path"] == "runs/tinyrs/tinyrs_instruct"
    training = config["training"]
    assert (training["loss_normalization"], training["warmup_shape"], training["lr_scheduler_type"]) == (
        "micro_batch",
        "deepspeed_log",
        "constant_with_warmup",
    )
    assert (training["weight_decay_exemptions"], training["vision_lr"], training["warmup_steps"]) == (
        "none",
        1e-5,
        0.03,
    )
