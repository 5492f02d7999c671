"""eval.tokens: the prompt tokens it measures from the data are those the processor gives eval.run's prompts."""

import json

import pytest

from common.data import load_image
from common.modeling import load_processor
from eval import tokens
from eval.backends import render_prompt
from eval.tasks import TASKS, PromptOptions
from offline.synthetic.earthdial import EVAL_ROOT


@pytest.mark.parametrize(
    ("task", "folder", "max_pixels"),
    [("samdata", "samdata/test", None), ("samdata", "samdata/test", 3136), ("earthdial_cc_dubai", EVAL_ROOT, None)],
)
def test_tokens_equal_the_processors(tiny_model_dir, synthetic_dir, tmp_path, task, folder, max_pixels):
    out = tmp_path / "tokens.json"
    argv = ["--model", str(tiny_model_dir), "--tasks", task, "--data-root", str(synthetic_dir / folder)]
    argv += ["--output", str(out), "--limit", "3"] + (["--image-max-pixels", str(max_pixels)] if max_pixels else [])
    assert tokens.main(argv) == 0
    measured = json.loads(out.read_text())["tasks"][task]
    assert measured["samples"] == 3 and measured["max_new_tokens"] == TASKS[task].max_new_tokens
    processor = load_processor(tiny_model_dir, max_pixels=max_pixels)
    for i, row in enumerate(TASKS[task].load(synthetic_dir / folder)[:3]):
        images = [load_image(source) for source in row.get("images") or [row["image"]]]
        inputs = processor(
            text=[render_prompt(processor, TASKS[task].messages(row, PromptOptions()))],
            images=[images],
            return_tensors="pt",
        )
        assert measured["text_tokens"][i] + measured["image_tokens"][i] == inputs["input_ids"].shape[1]
        assert measured["patches"][i] == int(inputs["image_grid_thw"].prod(dim=1).sum())
    assert measured["image_tokens"][0] * 4 == measured["patches"][0]
