"""Every file under configs/ loads with the parser that its launcher uses, so a recipe named by
scripts/reproduce_*.sh --dry-run cannot fail at submission time. A file in a folder this test does not know fails,
which keeps the list complete as configs are added."""

import json

import pytest
from accelerate.commands.config.config_args import ClusterConfig
from trl import TrlParser

from grpo.stages import load_plan, plan_stages
from grpo.train import parse_args as parse_grpo
from sft.configs import DataArguments, SFTModelArguments, SFTTrainingArguments
from tests.conftest import REPO_ROOT

CONFIGS = sorted(
    path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "configs").rglob("*") if path.is_file()
)
# bf16 / tf32 need a GPU; the GRPO paper recipes' one prompt per GPU needs 4 processes for TRL's group check.
SFT_CPU = ["--bf16", "false", "--tf32", "false"]
GRPO_CPU = ["--bf16", "false", "--use_cpu", "true", "--per_device_train_batch_size", "4"]


def load_sft(path: str) -> None:
    data, model, training = TrlParser((DataArguments, SFTModelArguments, SFTTrainingArguments)).parse_args_and_config(
        ["--config", path, *SFT_CPU]
    )
    assert data.data_path and training.output_dir


def load_grpo(path: str) -> None:
    if path.endswith("_stages.yaml"):
        plan = load_plan(path)
        assert len(plan_stages(plan, plan["output_dir"])) == len(plan["stages"])
        return
    script, training, model = parse_grpo(["--config", path, *GRPO_CPU])
    assert script.dataset_name and script.reward_funcs and training.output_dir


def load_deepspeed(path: str) -> None:
    config = json.loads((REPO_ROOT / path).read_text())
    assert config["zero_optimization"]["stage"] in (2, 3)


def load_accelerate(path: str) -> None:
    config = ClusterConfig.from_yaml_file(str(REPO_ROOT / path))
    file = (config.deepspeed_config or {}).get("deepspeed_config_file")
    assert file is None or (REPO_ROOT / file).is_file(), file


LOADERS = {"sft": load_sft, "grpo": load_grpo, "deepspeed": load_deepspeed, "accelerate": load_accelerate}


def test_configs_exist():
    assert len(CONFIGS) >= 21  # 7 SFT + 7 GRPO (one GeoVLM-R1 recipe, two stage plans) + 4 DeepSpeed + 3 accelerate


@pytest.mark.parametrize("path", CONFIGS)
def test_config_loads(path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # recipes name each other (and DeepSpeed files) relative to the repository root
    folder = path.split("/")[1]
    assert folder in LOADERS, f"{path}: no loader for configs/{folder}/ in this test"
    LOADERS[folder](path)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.endswith(".yaml")])
def test_recipes_use_the_checkpointing_name_both_locks_read(path):
    # transformers 5.17 (constraints-gpu.txt) knows only gradient_checkpointing; 5.24 reads it as an alias.
    assert "activation_checkpointing" not in (REPO_ROOT / path).read_text()
