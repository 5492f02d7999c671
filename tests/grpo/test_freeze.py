"""freeze_vision_tower means one thing in SFT and GRPO (issue 10): the vision encoder without its merger, the
meaning of upstream's SFT flag; the merger keeps training in GRPO, as upstream's GRPO trained everything."""

import re

import pytest
from trl import ModelConfig

from common.modeling import load_model
from grpo.configs import GRPOScriptArguments
from grpo.train import build_model
from sft.configs import ModelArguments
from sft.modeling import part_of_parameters, set_trainable


@pytest.fixture(scope="module")
def parts(tiny_model_dir):
    return part_of_parameters(load_model(str(tiny_model_dir), dtype="float32"))


def grpo_trainable(tiny_model_dir, freeze):
    model, peft_config = build_model(
        GRPOScriptArguments(freeze_vision_tower=freeze), ModelConfig(model_name_or_path=str(tiny_model_dir))
    )
    assert peft_config is None
    return {name for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("freeze", [True, False])
def test_grpo_and_sft_train_the_same_parameters(tiny_model_dir, parts, freeze):
    # SFT with the paper's tune_merger true: the merger trains whether or not the tower is frozen.
    sft_model = load_model(str(tiny_model_dir), dtype="float32")
    set_trainable(sft_model, ModelArguments(freeze_vision_tower=freeze, tune_merger=True))
    sft = {name for name, p in sft_model.named_parameters() if p.requires_grad}
    grpo = grpo_trainable(tiny_model_dir, freeze)
    assert grpo == sft
    trained_parts = {parts[name] for name in grpo}
    assert trained_parts == ({"merger", "llm"} if freeze else {"vision", "merger", "llm"})


def test_grpo_lora_skips_the_frozen_encoder_but_not_the_merger(tiny_model_dir):
    model_args = ModelConfig(
        model_name_or_path=str(tiny_model_dir), use_peft=True, lora_r=4, lora_target_modules="all-linear"
    )
    model, peft_config = build_model(GRPOScriptArguments(freeze_vision_tower=True), model_args)
    names = [name for name, _ in model.named_modules()]
    excluded = {name for name in names if re.fullmatch(peft_config.exclude_modules, name)}
    tower = [name for name in names if ".visual." in f".{name}." and "merger" not in name and name.count(".") > 1]
    assert tower and set(tower) <= excluded
    merger = [name for name in names if ".merger" in name]
    assert merger and not excluded & set(merger)
