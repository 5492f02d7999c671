"""`python -m grpo.rewards`: offline scoring of completion files, recipes as option sources, bad input named."""

import json
import subprocess
import sys

import pytest
import yaml

from grpo.rewards import REWARDS
from grpo.rewards.__main__ import main, read_recipe

SAMCHAT_LINES = [
    {"completion": "<reasoning>r</reasoning><answer>A missile silo.</answer>", "solution": "1"},
    {"completion": "<reasoning>r</reasoning><answer>Farmland.</answer>", "solution": "1"},
    {"completion": "Farmland, no tags.", "solution": "0"},
    # Not a SAMChat row: samchat_keyword does not apply, format still does.
    {"completion": "<reasoning>r</reasoning><answer>7</answer>", "solution": "7", "task": "counting"},
]


def write_lines(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


LENGTHS = [len(line["completion"]) / 1000 for line in SAMCHAT_LINES]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--reward", "format,samchat_keyword", "--weights", "1,0.5"], [1.5, 1.0, 0.5, 1.0]),
        (["--reward", "samchat_keyword"], [1.0, 0.0, 1.0, None]),  # null: no chosen reward applies
        (["--reward", "samchat_keyword", "--keywords", "farmland"], [0.0, 1.0, 0.0, None]),
        (["--reward", "format", "--format_mode", "fullmatch"], [1.0, 1.0, 0.0, 1.0]),
        (["--reward", "format", "--think-tag", "think"], [0.0, 0.0, 0.0, 0.0]),  # hyphenated flags too
        # Only the last line is a counting row; completion_length scores every line.
        (
            ["--reward", "counting,completion_length", "--completion_length_max_chars", "1000"],
            [*LENGTHS[:3], 1.0 + LENGTHS[3]],
        ),
    ],
)
def test_cli_scores_one_line_per_input_line(tmp_path, capsys, argv, expected):
    path = write_lines(tmp_path / "in.jsonl", SAMCHAT_LINES)
    code, out, err = run([*argv, "--input", path], capsys)
    assert (code, err) == (0, "")
    assert [json.loads(value) for value in out.splitlines()] == expected


def test_cli_each_shows_every_reward_beside_the_total(tmp_path, capsys):
    path = write_lines(tmp_path / "in.jsonl", SAMCHAT_LINES)
    code, out, err = run(
        ["--reward", "format,samchat_keyword", "--weights", "1,0.5", "--each", "--input", path], capsys
    )
    assert (code, err) == (0, "")
    assert [json.loads(value) for value in out.splitlines()] == [
        {"total": 1.5, "format": 1.0, "samchat_keyword": 1.0},
        {"total": 1.0, "format": 1.0, "samchat_keyword": 0.0},
        {"total": 0.5, "format": 0.0, "samchat_keyword": 1.0},
        {"total": 1.0, "format": 1.0, "samchat_keyword": None},  # not a SAMChat row: the keyword reward is n/a
    ]


def test_cli_writes_the_output_file(tmp_path, capsys):
    path = write_lines(tmp_path / "in.jsonl", SAMCHAT_LINES[:2])
    output = tmp_path / "scores.txt"
    code, out, _ = run(["--reward", "samchat_keyword", "--input", path, "--output", str(output)], capsys)
    assert (code, out) == (0, "")
    assert output.read_text() == "1.0\n0.0\n"


@pytest.mark.parametrize(
    "argv, line, expected",
    [
        # Without "task": the natural task of the first reward that has one.
        (["--reward", "format,tinyrs_accuracy"], {"completion": "<answer>Lake.</answer>", "solution": "lake"}, "1.0"),
        (["--reward", "iou"], {"completion": "[10, 10, 20, 20]", "solution": "[10, 10, 20, 30]"}, "0.5"),
        (
            ["--reward", "iou", "--iou_mode", "upstream"],
            {"completion": "[0, 0, 1, 1]", "solution": "[5, 5, 9, 9]"},
            "1.0",
        ),
        # Offline there is no judge: open-ended rows are null.
        (["--reward", "tinyrs_accuracy"], {"completion": "a", "solution": "b", "task": "open_ended"}, "null"),
        # A number as the solution is read as its JSON text.
        (
            ["--reward", "geovlm_accuracy"],
            {"completion": "<answer>7</answer>", "solution": 7, "task": "counting"},
            "1.0",
        ),
        (
            ["--reward", "geovlm_accuracy"],
            {"completion": "<answer>There are 7</answer>", "solution": "7", "task": "vqa", "reward_method": "counting"},
            "1.0",
        ),
        (
            ["--reward", "referring_iou", "--box_frame", "grid"],
            {"completion": "[0, 0, 100, 100]", "solution": "[0, 0, 20, 40]", "image_size": [200, 400]},
            "1.0",
        ),
        (
            ["--reward", "referring_iou", "--box-frame", "input"],
            {
                "completion": "[0, 0, 10, 10]",
                "solution": "[0, 0, 20, 40]",
                "image_size": [200, 400],
                "input_size": [100, 100],
            },
            "1.0",
        ),
        (
            ["--reward", "classification"],
            {
                "completion": "road and bridge",
                "solution": "road and bridge",
                "question": "Classes: lake, road and bridge.",
            },
            "1.0",
        ),
        (
            ["--reward", "format"],
            {
                "completion": [{"role": "assistant", "content": "<reasoning>r</reasoning><answer>a</answer>"}],
                "solution": "",
            },
            "1.0",
        ),
    ],
)
def test_cli_rows(tmp_path, capsys, argv, line, expected):
    path = write_lines(tmp_path / "in.jsonl", [line])
    code, out, err = run([*argv, "--input", path], capsys)
    assert (code, out, err) == (0, expected + "\n", "")


RECIPE = {
    "model_name_or_path": "ignored/model",  # not a reward setting: ignored
    "learning_rate": 1.0e-6,
    "reward_funcs": ["format", "tinyrs_accuracy"],
    "reward_weights": [0.5, 2.0],
    "think_tag": "think",
    "answer_tag": "answer",
    "format_mode": "fullmatch",
    "keywords": ["tank"],
    "iou_mode": "upstream",
    "box_frame": "pixels",
    "caption_metric": "rouge_l",
}
RECIPE_LINES = [
    {"completion": "<think>t</think><answer>[0, 0, 1, 1]</answer>", "solution": "[5, 5, 9, 9]", "task": "bbox"},
    {"completion": "<reasoning>t</reasoning><answer>lake</answer>", "solution": "lake", "task": "short_answer"},
]


@pytest.mark.parametrize(
    "argv, expected",
    [
        # The recipe's rewards, weights and options: fullmatch with <think>, upstream IoU (any box scores 1).
        ([], ["2.5", "2.0"]),
        # Flags win over the recipe.
        (["--iou_mode", "correct"], ["0.5", "2.0"]),
        (["--weights", "1,1"], ["2.0", "1.0"]),
        (["--think_tag", "reasoning", "--format_mode", "search"], ["2.0", "2.5"]),
        # --reward replaces the recipe's rewards, and then its weights too (they belong to its rewards).
        (["--reward", "tinyrs_accuracy"], ["1.0", "1.0"]),
    ],
)
def test_cli_config(tmp_path, capsys, argv, expected):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    path = write_lines(tmp_path / "in.jsonl", RECIPE_LINES)
    code, out, err = run(["--config", str(recipe), "--input", path, *argv], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines() == expected


def test_read_recipe_takes_only_reward_settings(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, "reward_funcs": "format, iou", "judge_failure_value": 0.0}))
    settings = read_recipe(str(recipe))
    assert settings == {
        "reward_funcs": ["format", "iou"],
        "reward_weights": [0.5, 2.0],
        "think_tag": "think",
        "answer_tag": "answer",
        "format_mode": "fullmatch",
        "keywords": ["tank"],
        "iou_mode": "upstream",
        "box_frame": "pixels",
        "caption_metric": "rouge_l",
    }


BAD_LINES = [
    # (line, message after "in.jsonl:2: ")
    ("this is not json", "not a JSON object (Expecting value at column 1)"),
    ("", "not a JSON object"),
    ("[1, 2]", "expected a JSON object, got list"),
    ({"solution": "1"}, "missing 'completion'"),
    ({"completion": "x"}, "missing 'solution'"),
    ({"completion": 3, "solution": "1"}, "'completion': a completion is a string or a list of messages, got int"),
    ({"completion": [3], "solution": "1"}, "'completion': a conversational completion holds messages"),
    # A list solution is a TinyRS dataset row, checked as grpo.data checks it.
    ({"completion": "x", "solution": ["2", "a"]}, "bad TinyRS row: 'solution' must be a list [answer_type, answer"),
    ({"completion": "x", "solution": {"a": 1}}, "'solution' must be a string (or a number), got dict"),
    ({"completion": "x", "solution": True}, "'solution' must be a string (or a number), got bool"),
    ({"completion": "x", "solution": "1", "task": "segmentation"}, "unknown task 'segmentation'; tasks: samchat"),
    ({"completion": "x", "solution": "1", "reward_method": "bleu"}, "unknown reward_method 'bleu'"),
    ({"completion": "x", "solution": "1", "question": 5}, "'question' must be a string"),
    ({"completion": "x", "solution": "1", "image_size": [0, 5]}, "'image_size' must be [width, height]"),
    ({"completion": "x", "solution": "1", "input_size": [5]}, "'input_size' must be [width, height]"),
    # A row the chosen box frame cannot use.
    ({"completion": "[0, 0, 1, 1]", "solution": "[0, 0, 1, 1]", "task": "detection"}, "box_frame 'grid' needs"),
]


@pytest.mark.parametrize("line, message", BAD_LINES)
def test_cli_bad_line_names_file_and_line(tmp_path, capsys, line, message):
    path = write_lines(tmp_path / "in.jsonl", [SAMCHAT_LINES[0], line, SAMCHAT_LINES[1]])
    code, out, err = run(["--reward", "format,geovlm_accuracy", "--box_frame", "grid", "--input", path], capsys)
    assert code == 1
    assert out == ""  # nothing half-written
    assert err.startswith(f"error: {path}:2: {message}")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--reward", "format,accuracy"], "unknown: ['accuracy']); registered: ['format'"),
        ([], "name rewards with --reward or a recipe's reward_funcs"),
        (["--reward", "format", "--weights", "1,2"], "2 weights for 1 rewards ['format']"),
        (["--reward", "format", "--weights", "1,x"], "--weights must be numbers"),
        (["--reward", "format", "--format_mode", "regex"], "format_mode must be one of ('search', 'fullmatch')"),
        (["--reward", "format", "--completion_length_max_chars", "many"], "completion_length_max_chars must be an"),
    ],
)
def test_cli_usage_errors(tmp_path, capsys, argv, message):
    path = write_lines(tmp_path / "in.jsonl", SAMCHAT_LINES)
    code, out, err = run([*argv, "--input", path], capsys)
    assert (code, out) == (2, "")
    assert message in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("reward_funcs: [format\n", "cannot read the recipe"),
        ("- format\n- iou\n", "a recipe is a YAML mapping"),
        ("reward_funcs: 3\n", "reward_funcs must be a list of names"),
        ("reward_funcs: [format]\nreward_weights: [one]\n", "reward_weights must be numbers"),
    ],
)
def test_cli_bad_recipe_names_the_file(tmp_path, capsys, content, message):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(content)
    path = write_lines(tmp_path / "in.jsonl", SAMCHAT_LINES)
    code, _, err = run(["--config", str(recipe), "--input", path], capsys)
    assert code == 2
    assert f"{recipe}: " in err and message in err


def test_cli_missing_input(tmp_path, capsys):
    missing = tmp_path / "absent.jsonl"
    code, out, err = run(["--reward", "format", "--input", str(missing)], capsys)
    assert (code, out) == (1, "")
    assert str(missing) in err and "No such file" in err


def test_cli_reads_every_shipped_recipe(repo_root):
    # The recipes the trainer runs drive the offline scorer too: rewards and options as the trainer reads them.
    recipes = sorted((repo_root / "configs" / "grpo").glob("*.yaml"))
    with_rewards = [read_recipe(str(path)) for path in recipes]
    with_rewards = [settings for settings in with_rewards if "reward_funcs" in settings]
    assert with_rewards, "no configs/grpo recipe names reward_funcs"
    for settings in with_rewards:
        assert set(settings["reward_funcs"]) <= set(REWARDS)
        assert len(settings.get("reward_weights", settings["reward_funcs"])) == len(settings["reward_funcs"])


@pytest.mark.slow
def test_module_entry_point(tmp_path, repo_root):
    path = write_lines(tmp_path / "in.jsonl", SAMCHAT_LINES[:3])
    result = subprocess.run(
        [sys.executable, "-m", "grpo.rewards", "--reward", "samchat_keyword", "--input", path],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "1.0\n0.0\n1.0\n")
