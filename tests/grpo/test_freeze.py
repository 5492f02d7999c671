"""freeze_vision_tower means one thing in SFT and GRPO (issue 10): the vision encoder without its merger, the
meaning of upstream's SFT flag; the merger keeps training in GRPO, as upstream's GRPO trained everything. Since
issue 13 both stages parse the same model arguments (common.model_args) and apply the same full fine-tuning flags
(common.modeling.set_trainable), freeze_llm and tune_merger included."""

import re
from pathlib import Path

import pytest

from common.modeling import load_model, part_of_parameters, set_trainable
from grpo.configs import GRPOConfig, GRPOModelArguments
from grpo.train import build_model
from sft.configs import SFTModelArguments


@pytest.fixture(scope="module")
def parts(tiny_model_dir):
    return part_of_parameters(load_model(str(tiny_model_dir), dtype="float32"))


def grpo_training_args(tmp_path):
    return GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")


def grpo_trainable(tiny_model_dir, tmp_path, **flags):
    model, peft_config = build_model(
        GRPOModelArguments(model_name_or_path=str(tiny_model_dir), **flags), grpo_training_args(tmp_path)
    )
    assert peft_config is None
    return {name for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(
    "flags, trained",
    [
        # the GRPO defaults: every weight trains, as upstream's GRPO trainer
        ({}, {"vision", "merger", "llm"}),
        # the paper's tune_merger true: the merger trains although the tower is frozen
        ({"freeze_vision_tower": True}, {"merger", "llm"}),
        # the SFT flags GRPO now applies too
        ({"freeze_vision_tower": True, "tune_merger": False}, {"llm"}),
        ({"freeze_llm": True}, {"vision", "merger"}),
    ],
)
def test_grpo_and_sft_train_the_same_parameters(tiny_model_dir, tmp_path, parts, flags, trained):
    sft_model = load_model(str(tiny_model_dir), dtype="float32")
    set_trainable(sft_model, SFTModelArguments(**flags))
    sft = {name for name, p in sft_model.named_parameters() if p.requires_grad}
    grpo = grpo_trainable(tiny_model_dir, tmp_path, **flags)
    assert grpo == sft
    assert {parts[name] for name in grpo} == trained


def test_grpo_lora_skips_the_frozen_encoder_but_not_the_merger(tiny_model_dir, tmp_path):
    model_args = GRPOModelArguments(
        model_name_or_path=str(tiny_model_dir),
        use_peft=True,
        lora_r=4,
        lora_target_modules="all-linear",
        freeze_vision_tower=True,
    )
    model, peft_config = build_model(model_args, grpo_training_args(tmp_path))
    names = [name for name, _ in model.named_modules()]
    excluded = {name for name in names if re.fullmatch(peft_config.exclude_modules, name)}
    tower = [name for name in names if ".visual." in f".{name}." and "merger" not in name and name.count(".") > 1]
    assert tower and set(tower) <= excluded
    merger = [name for name in names if ".merger" in name]
    assert merger and not excluded & set(merger)


@pytest.mark.parametrize(
    "flags, trainable, trainable_sha",
    [
        # the demo recipe: every weight
        ([], 57, "64b65504bfe8289f"),
        # frozen encoder, merger and language model trained
        (["--freeze_vision_tower", "true"], 32, "06148551b515728a"),
        # LoRA on q_proj / v_proj, none on the frozen encoder
        (["--use_peft", "true", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj",
          "--freeze_vision_tower", "true"], 8, "ee7f7c7677ffcbe0"),
    ],
)  # fmt: skip
def test_demo_recipe_trains_what_it_trained_before_the_shared_vocabulary(
    tiny_model_dir, tmp_path, flags, trainable, trainable_sha
):
    # Pinned from the code before issue 13 (trl.ModelConfig and the script-argument freeze flag), same tiny model.
    import hashlib

    import torch
    from peft import get_peft_model

    from grpo.train import parse_args

    argv = ["--config", str(Path(__file__).resolve().parents[2] / "configs/grpo/demo.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--output_dir", str(tmp_path), "--report_to", "none", *flags]  # fmt: skip
    _, training_args, model_args = parse_args(argv)
    model, peft_config = build_model(model_args, training_args)
    if peft_config is not None:
        model = get_peft_model(model, peft_config)
    names = sorted(name for name, p in model.named_parameters() if p.requires_grad)
    assert (len(names), hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]) == (trainable, trainable_sha)
    assert next(model.parameters()).dtype == torch.float32 and model.config._attn_implementation == "sdpa"
