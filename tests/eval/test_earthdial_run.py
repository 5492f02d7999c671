"""`python -m eval.run --tasks earthdial` on the tiny model over the synthetic EarthDial shards of every family
(offline.synthetic.earthdial): 1-, 2- and 4-image prompts, every scorer, metrics.json and the report.

Slow: about a minute on two CPU cores (28 tasks x 3 rows, 16 new tokens each, NLTK METEOR included)."""

import json

import pytest

from eval import run as eval_run
from eval.generate import read_predictions
from eval.tasks.earthdial import DATASETS
from offline.synthetic.earthdial import EARTHDIAL_SHARDS, EVAL_ROOT

pytestmark = pytest.mark.slow


def test_eval_run_earthdial_every_family(tiny_model_dir, synthetic_dir, tmp_path):
    out = tmp_path / "out"
    argv = ["--model", str(tiny_model_dir), "--tasks", "earthdial", "--data-root", str(synthetic_dir / EVAL_ROOT)]
    assert eval_run.main([*argv, "--output-dir", str(out), "--max-new-tokens", "16", "--reasoning"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    present = {s.path.removeprefix(EVAL_ROOT + "/") for s in EARTHDIAL_SHARDS.values() if not s.train}
    expected = {key for key, dataset in DATASETS.items() if dataset.shard in present}
    assert set(metrics["tasks"]) == expected
    # tasks without a synthetic shard are skipped by name, not silently
    assert set(metrics["skipped_tasks"]) == set(DATASETS) - expected
    assert {DATASETS[key].kind for key in expected} == {
        "cls", "multilabel", "vqa", "rec", "region", "caption", "change", "grounding", "xbd_det"
    }  # fmt: skip
    for key in expected:
        result = metrics["tasks"][key]
        assert (result["samples"], result["errors"]) == (3, 0), key
        assert result["max_new_tokens"] == 16
        for protocol in ("paper", "strict"):
            values = [v for v in result[protocol].values() if isinstance(v, float)]
            assert values and all(0.0 <= v <= 1.0 for v in values), (key, protocol)
    # the four-image FMoW prompt and its stored question
    rows = read_predictions(out / "earthdial_fmow" / "predictions.jsonl")
    assert rows[0]["question"].count("<image>") == 4 and all(row["prediction"] for row in rows)
    assert metrics["tasks"]["earthdial_cc_dubai"]["paper"]["meteor"] >= 0.0
    assert metrics["text_tools"]["tokenizer"] and metrics["text_tools"]["wordnet"] == "3.0"
    assert "earthdial_rsvqa_lr" in (out / "report.md").read_text()
