"""freeze_vision_tower means one thing in SFT and GRPO (issue 10): the vision encoder without its merger, the
meaning of upstream's SFT flag; the merger keeps training in GRPO, as upstream's GRPO trained everything. Since
issue 13 both stages parse the same model arguments (common.model_args) and apply the same full fine-tuning flags
(common.modeling.set_trainable), freeze_llm and tune_merger included."""

import re

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
