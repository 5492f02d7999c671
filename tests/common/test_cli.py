"""The training entry points' command line: --config in --help, one-line errors for what a user mistypes."""

import logging

import pytest

from common.cli import RecipeParser, run_stage
from common.data import DataError
from common.modeling import ModelSourceError
from sft.configs import DataArguments, SFTModelArguments, SFTTrainingArguments


def parser():
    return RecipeParser((DataArguments, SFTModelArguments, SFTTrainingArguments), prog="python -m sft.train")


def test_help_names_the_module_and_the_config_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        parser().parse_args_and_config(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m sft.train --config RECIPE.yaml [--field value ...]")
    assert "--config RECIPE.yaml" in out.split("options:")[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        # a mistyped recipe path: named, with where the recipes are
        (["--config", "configs/sft/samchat_distil.yaml"], "--config configs/sft/samchat_distil.yaml: no such recipe"),
        # the flag without its value
        (["--config"], "--config needs the path of a recipe YAML"),
        (["--config", "--output_dir", "x"], "--config needs the path of a recipe YAML"),
    ],
)
def test_unreadable_recipe_is_one_argparse_error(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        parser().parse_args_and_config(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("usage: python -m sft.train")
    assert message in err[1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_name_or_path: m\nlearning_rat: 1.0e-5\n", "Unknown arguments from config file"),  # a typo in a field
        ("model_name_or_path: [unclosed\n", "not valid YAML"),  # broken YAML
        ("- a\n- b\n", "must contain a YAML mapping"),  # not a mapping
    ],
)
def test_bad_recipe_content_is_one_argparse_error(tmp_path, text, message, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with pytest.raises(SystemExit) as stop:
        parser().parse_args_and_config(["--config", str(recipe), "--output_dir", str(tmp_path)])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_recipe_and_overrides_parse_to_the_three_groups(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_name_or_path: m\nlearning_rate: 1.0e-5\n")
    parsed = parser().parse_args_and_config(["--config", str(recipe), "--learning_rate", "2e-5", "--output_dir", "o"])
    assert [type(group) for group in parsed] == [
        DataArguments,
        SFTModelArguments,
        SFTTrainingArguments,
    ]  # no stray namespace
    assert parsed[1].model_name_or_path == "m" and parsed[2].learning_rate == 2e-5


@pytest.mark.parametrize(
    "error, logged",
    [
        (DataError("d.json", 3, "no image"), "bad training data: d.json: record 3: no image"),
        (ModelSourceError("/nope: no such local path"), "/nope: no such local path"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(error, logged, caplog):
    def train():
        raise error

    with caplog.at_level(logging.ERROR):
        assert run_stage(train) == 1
    assert [r.getMessage() for r in caplog.records] == [logged]


def test_other_errors_keep_their_traceback():
    def train():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_stage(train)
    assert run_stage(lambda: "out") == 0


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_help_leads_with_the_launch_and_the_projects_fields_and_names_every_flag(stage, capsys):
    import importlib

    build = importlib.import_module(f"{stage}.train").build_parser
    with pytest.raises(SystemExit) as stop:
        build().parse_args_and_config(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[2:4] == [
        "Launch:",
        f"    python -m {stage}.train --config configs/{stage}/RECIPE.yaml [--field value ...]",
    ]
    assert next(i for i, line in enumerate(lines) if line.startswith("  --config RECIPE.yaml")) < 20
    # The project's own fields are described before the libraries' list begins.
    library = out.index("Library flags, all accepted")
    assert 0 < out.index("--freeze_vision_tower") < library and out.index("--output_dir,") > library
    # Every flag the parser accepts is named (library flags by their first spelling).
    named = {word.rstrip(",") for word in out.split()}
    assert [a.option_strings[0] for a in build()._actions if a.option_strings[0] not in named] == []


def test_help_all_describes_every_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        parser().parse_args_and_config(["--help-all"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "transformers TrainingArguments:\n" in out and "Library flags" not in out
    assert "  --max_steps MAX_STEPS, --max-steps MAX_STEPS\n" in out  # a TrainingArguments flag, described
