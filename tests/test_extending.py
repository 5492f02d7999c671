"""The checks docs/EXTENDING.md promises: a recipe, a reward, a benchmark family or a data format added without the
registration or the documentation it needs fails here, by globbing what exists rather than listing it."""

import importlib
import pkgutil
from pathlib import Path

import pytest
import yaml

import eval.tasks
import grpo.rewards
from common.data import FORMATS
from eval.tasks import FAMILIES, TASKS

REPO = Path(__file__).resolve().parent.parent
RECIPES = sorted((REPO / "configs" / "sft").glob("*.yaml")) + sorted((REPO / "configs" / "grpo").glob("*.yaml"))
# bf16 / tf32 need a GPU, and TRL checks that one process holds whole groups of G (tests/grpo/test_configs.py).
CPU = {
    "sft": ["--bf16", "false", "--tf32", "false"],
    "grpo": ["--bf16", "false", "--use_cpu", "true", "--per_device_train_batch_size", "4"],
}


def _header(path: Path) -> str:
    return "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_parses_and_states_its_launch_command(path):
    stage = path.parent.name
    relative = path.relative_to(REPO).as_posix()
    raw = yaml.safe_load(path.read_text())
    if stage == "grpo" and "stages" in raw:  # a GeoVLM-R1 stage plan over one recipe
        from grpo.stages import load_plan

        assert f"-m grpo.stages --config {relative}" in _header(path)
        recipe = REPO / load_plan(str(path))["recipe"]
        assert recipe.is_file(), f"{relative}: its recipe {recipe} does not exist"
        path = recipe
    else:
        assert f"-m {stage}.train --config {relative}" in _header(path), f"{relative}: no launch command"
    if stage == "sft":
        from sft.train import build_parser
    else:
        from grpo.train import build_parser
    parsed = build_parser().parse_args_and_config(["--config", str(path), *CPU[stage]])
    assert len(parsed) == 3


def test_every_reward_is_in_the_registry_table():
    table = {row.split("|")[1].strip() for row in grpo.rewards.__doc__.splitlines() if row.startswith("| ")}
    assert set(grpo.rewards.REWARDS) <= table, sorted(set(grpo.rewards.REWARDS) - table)


def test_every_task_module_is_a_registered_family():
    modules = [info.name for info in pkgutil.iter_modules(eval.tasks.__path__) if info.name != "base"]
    for name in modules:
        tasks = getattr(importlib.import_module(f"eval.tasks.{name}"), "TASKS", None)
        if tasks is None:
            continue  # a helper module, not a family
        assert set(tasks) <= set(TASKS), f"eval/tasks/{name}.py: tasks missing from eval.tasks.TASKS"
        families = {task.family for task in tasks.values()}
        assert families <= set(FAMILIES), f"eval/tasks/{name}.py: family {families} is not in FAMILIES"
        for family in families:
            assert set(FAMILIES[family]) == {key for key, task in TASKS.items() if task.family == family}


def test_every_data_format_is_documented():
    # Each format has a heading of its own that names it: SPEC section 2, or EARTHDIAL.md's layout section.
    headings = [
        line
        for doc in ("SPEC.md", "EARTHDIAL.md")
        for line in (REPO / "docs" / doc).read_text().splitlines()
        if line.startswith("##")
    ]
    missing = [name for name in FORMATS if not any(line.endswith(f"format `{name}`") for line in headings)]
    assert not missing, f"no heading of docs/SPEC.md section 2 or docs/EARTHDIAL.md names the formats {missing}"
