"""Bootstrap intervals, paired comparisons and McNemar's test (eval.intervals, eval.compare) on constructed cases."""

import json
import math

import numpy as np
import pytest

from eval import compare
from eval.intervals import (
    bootstrap_intervals,
    bootstrap_p_value,
    compare_rows,
    draw_indices,
    mcnemar_exact,
    paired_rows,
    per_sample_scores,
)
from eval.score import score_rows
from eval.tasks import TASKS, ScoreOptions

OPTIONS = ScoreOptions()
CLS = TASKS["cls_aid"]
SAMDATA = TASKS["samdata"]


def cls_rows(right: int, total: int, prefix: str = "") -> list[dict]:
    """`total` classification rows, the first `right` answered correctly."""
    return [
        {"id": f"{prefix}{i}", "image": f"{i}.jpg", "question": "q", "answer": "forest",
         "prediction": "forest" if i < right else "river"}
        for i in range(total)
    ]  # fmt: skip


def samdata_rows(captions: dict[str, str]) -> list[dict]:
    return [{"id": name, "image": name, "question": "q", "answer": "", "prediction": c} for name, c in captions.items()]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval, by bisection on the binomial tails."""
    alpha = (1 - level) / 2

    def tail_at_least(p):
        return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))

    def solve(f, target):  # f increasing in p
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
        return lo

    lower = solve(tail_at_least, alpha)
    # P(X <= k) = alpha  <=>  P(X >= k + 1) = 1 - alpha
    upper = solve(lambda p: tail_at_least(p) - math.comb(n, k) * p**k * (1 - p) ** (n - k), 1 - alpha)
    return lower, upper


# Every site right. Enough of each kind that no resample lacks positives (precision would be 0/0, scored 0: SPEC 6.1).
ALL_RIGHT = {f"{c}_{i}.png": "Farmland." if c == "2" else "A military base." for c in "012" for i in range(8)}


@pytest.mark.parametrize(
    ("task", "rows", "protocol", "expected"),
    [
        (CLS, cls_rows(20, 20), "strict", {"accuracy": [1.0, 1.0]}),
        (CLS, cls_rows(20, 20), "paper", {"accuracy": [1.0, 1.0]}),
        (CLS, cls_rows(0, 20), "strict", {"accuracy": [0.0, 0.0]}),
        (
            SAMDATA,
            samdata_rows(ALL_RIGHT),
            "paper",
            {"precision": [1.0, 1.0], "recall": [1.0, 1.0], "f1": [1.0, 1.0], "accuracy": [1.0, 1.0]},
        ),
    ],
)
def test_constant_outcomes_give_a_point_interval(task, rows, protocol, expected):
    names = ("precision", "recall", "f1", "accuracy") if task is SAMDATA else ("accuracy",)
    assert bootstrap_intervals(task, rows, protocol, OPTIONS, names, resamples=200) == expected


@pytest.mark.parametrize(("right", "total"), [(80, 100), (30, 60)])
def test_a_binomial_interval_is_near_the_exact_one(right, total):
    low, high = bootstrap_intervals(CLS, cls_rows(right, total), "strict", OPTIONS, ("accuracy",))["accuracy"]
    exact_low, exact_high = clopper_pearson(right, total)
    # The percentile bootstrap of a proportion is close to the exact interval, not equal (it is a touch narrower).
    assert low == pytest.approx(exact_low, abs=0.03)
    assert high == pytest.approx(exact_high, abs=0.03)
    assert low < right / total < high


def test_the_known_clopper_pearson_interval():
    # Tables give [0.7082, 0.8733] for 80 of 100: the helper the test above trusts is right.
    assert clopper_pearson(80, 100) == pytest.approx((0.7082, 0.8733), abs=1e-4)


def test_intervals_are_seeded():
    rows = cls_rows(7, 12)
    first = bootstrap_intervals(CLS, rows, "strict", OPTIONS, ("accuracy",), resamples=50, seed=3)
    assert bootstrap_intervals(CLS, rows, "strict", OPTIONS, ("accuracy",), resamples=50, seed=3) == first


@pytest.mark.parametrize(
    ("task", "rows", "protocol", "name", "is_mean"),
    [
        (CLS, cls_rows(3, 8), "strict", "accuracy", True),
        # Paper protocol: a failed row is left out of the denominator, so accuracy is no longer a plain mean.
        (CLS, [*cls_rows(3, 8), {**cls_rows(1, 1, "x")[0], "error": "boom"}], "paper", "accuracy", False),
        (SAMDATA, samdata_rows({"0_a.png": "military", "1_b.png": "fields", "2_c.png": "military"}), "paper", "f1", False),
    ],
)  # fmt: skip
def test_the_per_sample_shortcut_is_taken_only_for_sample_means(task, rows, protocol, name, is_mean):
    full = task.score(rows, protocol, OPTIONS)[name]
    assert (per_sample_scores(task, rows, protocol, OPTIONS, name, full) is not None) == is_mean


def test_non_mean_metrics_are_rescored_on_each_resample():
    captions = {f"{c}_{i}.png": ("military" if (i + int(c)) % 3 else "fields") for c in "012" for i in range(6)}
    rows = samdata_rows(captions)
    intervals = bootstrap_intervals(SAMDATA, rows, "paper", OPTIONS, ("f1", "accuracy"), resamples=100, seed=5)
    by_hand = [SAMDATA.score([rows[i] for i in index], "paper", OPTIONS) for index in draw_indices(len(rows), 100, 5)]
    for name in ("f1", "accuracy"):
        expected = np.percentile([m[name] for m in by_hand], [2.5, 97.5])
        assert intervals[name] == pytest.approx(list(expected))


def test_score_rows_puts_ci95_beside_each_protocols_metrics():
    result = score_rows(CLS, cls_rows(5, 5), OPTIONS, resamples=20)
    assert result["paper"]["ci95"] == {"accuracy": [1.0, 1.0]}
    assert result["strict"]["ci95"] == {"accuracy": [1.0, 1.0]}
    assert "ci95" not in score_rows(CLS, cls_rows(5, 5), OPTIONS)["paper"]


# ---------------------------------------------------------------------------------------------------------------
# McNemar and the paired comparison


@pytest.mark.parametrize(
    ("only_a", "only_b", "p_value"),
    [
        (0, 0, 1.0),
        (3, 3, 1.0),
        (0, 5, 2 / 32),  # 2 * P(X <= 0), X ~ Bin(5, 1/2)
        (1, 9, 2 * (1 + 10) / 1024),  # 2 * P(X <= 1), n = 10
        (10, 3, 2 * (1 + 13 + 78 + 286) / 8192),  # 2 * P(X <= 3), n = 13
        (4, 5, 1.0),  # 2 * P(X <= 4), n = 9, is 1: capped
    ],
)
def test_mcnemar_exact_p_values(only_a, only_b, p_value):
    assert mcnemar_exact(only_a, only_b) == pytest.approx(p_value)


def test_bootstrap_p_value():
    assert bootstrap_p_value(np.array([0.1] * 99)) == pytest.approx(2 / 100)
    assert bootstrap_p_value(np.array([-0.1, 0.1, 0.2, 0.3])) == pytest.approx(2 * 2 / 5)
    assert bootstrap_p_value(np.zeros(9)) == 1.0


def test_accuracy_is_compared_by_mcnemar():
    a, b = cls_rows(10, 20), cls_rows(16, 20)  # B is right on 6 samples A misses, never the other way
    (result,) = compare_rows(CLS, a, b, "strict", OPTIONS, ("accuracy",), resamples=200)
    assert (result["a"], result["b"], result["delta"]) == (0.5, 0.8, pytest.approx(0.3))
    assert result["test"] == "mcnemar"
    assert result["p_value"] == pytest.approx(2 / 64)
    low, high = result["ci95"]
    assert 0 < low < 0.3 < high


def test_non_mean_metrics_are_compared_by_paired_bootstrap():
    names = [f"{c}_{i}.png" for c in "012" for i in range(5)]
    a = samdata_rows({n: "fields" for n in names})
    b = samdata_rows({n: "military" if n[0] in "01" else "fields" for n in names})
    results = {r["metric"]: r for r in compare_rows(SAMDATA, a, b, "paper", OPTIONS, ("f1", "accuracy"), 200)}
    assert results["f1"]["test"] == "paired_bootstrap"
    assert (results["f1"]["a"], results["f1"]["b"], results["f1"]["delta"]) == (0.0, 1.0, 1.0)
    assert results["f1"]["ci95"] == [1.0, 1.0]
    assert results["f1"]["p_value"] == pytest.approx(2 / 201)
    assert results["accuracy"]["test"] == "mcnemar"
    assert results["accuracy"]["p_value"] == pytest.approx(2 / 2**10)


def test_identical_predictions_differ_by_nothing():
    rows = cls_rows(7, 12)
    (result,) = compare_rows(CLS, rows, rows, "strict", OPTIONS, ("accuracy",), resamples=50)
    assert (result["delta"], result["ci95"], result["p_value"]) == (0.0, [0.0, 0.0], 1.0)


def test_rows_are_paired_by_id_not_by_order():
    a = cls_rows(2, 4)
    b = list(reversed(cls_rows(2, 4)))
    paired_a, paired_b, skipped = paired_rows(a, b, ("A", "B"))
    assert [r["id"] for r in paired_a] == [r["id"] for r in paired_b] == ["0", "1", "2", "3"]
    assert skipped == 0


@pytest.mark.parametrize(
    ("a_ids", "b_ids", "message"),
    [
        ("0123", "012", "A: sample id '3' is not in the other file"),
        ("012", "0123", "B: sample id '3' is not in the other file"),
        ("0145", "0123", "A: sample id '4' is not in the other file and 3 more"),
    ],
)
def test_mismatched_ids_are_rejected(a_ids, b_ids, message):
    rows = {i: cls_rows(1, 1)[0] | {"id": i} for i in "012345"}
    with pytest.raises(ValueError, match=message):
        paired_rows([rows[i] for i in a_ids], [rows[i] for i in b_ids], ("A", "B"))
    _, _, skipped = paired_rows([rows[i] for i in a_ids], [rows[i] for i in b_ids], ("A", "B"), skip_unmatched=True)
    assert skipped == len(set(a_ids) ^ set(b_ids))


# ---------------------------------------------------------------------------------------------------------------
# The CLI


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_compare_cli_json_lines(tmp_path, capsys):
    a = _write(tmp_path / "a.jsonl", cls_rows(10, 20))
    b = _write(tmp_path / "b.jsonl", cls_rows(16, 20))
    assert compare.main(["--task", "cls_aid", str(a), str(b), "--resamples", "100"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["protocol"], r["metric"], r["test"]) for r in lines] == [
        ("paper", "accuracy", "mcnemar"),
        ("strict", "accuracy", "mcnemar"),
    ]
    assert set(lines[0]) == {"task", "protocol", "metric", "a", "b", "delta", "ci95", "p_value", "test"}
    assert lines[1]["p_value"] == pytest.approx(2 / 64)


def test_compare_cli_reads_eval_output_folders_and_prints_markdown(tmp_path, capsys):
    _write(tmp_path / "sft" / "cls_aid" / "predictions.jsonl", cls_rows(10, 20))
    _write(tmp_path / "grpo" / "cls_aid" / "predictions.jsonl", cls_rows(16, 20))
    argv = ["--task", "cls_aid", str(tmp_path / "sft"), str(tmp_path / "grpo"), "--markdown", "--protocol", "strict"]
    assert compare.main(argv) == 0
    out = capsys.readouterr().out
    assert "| task | protocol | metric | A | B | delta | 95% interval | p-value | test |" in out
    assert "| cls_aid | strict | accuracy | 0.5000 | 0.8000 | +0.3000 |" in out
    assert "| 0.03125 | mcnemar |" in out


def test_compare_cli_names_an_unmatched_sample(tmp_path, capsys):
    a = _write(tmp_path / "a.jsonl", cls_rows(10, 20))
    b = _write(tmp_path / "b.jsonl", cls_rows(10, 19))
    assert compare.main(["--task", "cls_aid", str(a), str(b)]) == 1
    assert f"error: {a}: sample id '19' is not in the other file" in capsys.readouterr().err
    assert compare.main(["--task", "cls_aid", str(a), str(b), "--skip-unmatched", "--resamples", "10"]) == 0
    err = capsys.readouterr().err
    assert "note: 1 samples in one file only were skipped" in err
    assert "compared 19 paired samples" in err


def test_intervals_skip_meteor_unless_it_is_asked_for(monkeypatch):
    from eval.tasks import geovlm

    def no_jvm(*args):
        raise AssertionError("METEOR was started for an interval that does not need it")

    monkeypatch.setattr(geovlm, "meteor", no_jvm)
    rows = [
        {"id": str(i), "image": f"{i}.jpg", "question": "q", "answer": "a red roof near a road",
         "prediction": "a red roof" if i % 2 else "a green field"}
        for i in range(6)
    ]  # fmt: skip
    task = TASKS["geovlm_captioning"]
    intervals = bootstrap_intervals(task, rows, "paper", ScoreOptions(meteor=True), ("rouge_l",), resamples=50)
    low, high = intervals["rouge_l"]
    assert 0 <= low < task.score(rows, "paper", ScoreOptions(meteor=False))["rouge_l"] < high


def test_a_metric_too_slow_to_rescore_gets_no_interval_and_a_warning(caplog):
    rows = samdata_rows({f"{c}_{i}.png": "military" if i % 2 else "fields" for c in "012" for i in range(4)})
    names = ("f1", "accuracy")
    with caplog.at_level("WARNING", logger="eval.intervals"):
        intervals = bootstrap_intervals(SAMDATA, rows, "strict", OPTIONS, names, resamples=100, budget=0.0)
    assert set(intervals) == {"accuracy"}  # a sample mean: resampled from its per-sample scores, no rescoring
    assert "samdata (strict protocol): no interval for f1: rescoring 100 resamples of 12 rows" in caplog.text
    assert set(bootstrap_intervals(SAMDATA, rows, "strict", OPTIONS, names, resamples=100, budget=None)) == set(names)
