"""The figures over training seeds (eval.seeds) on constructed per-seed metrics."""

import math

import pytest

from eval.seeds import Z, aggregate, markdown, pooled_interval

SE = 0.05  # each seed's test-sample standard error: its interval is value +- Z * SE


def seed_metrics(f1: float, precision: float, with_intervals: bool = True) -> dict:
    paper = {"precision": precision, "recall": 0.5, "f1": f1, "accuracy": 0.6}
    if with_intervals:
        paper["ci95"] = {name: [paper[name] - Z * SE, paper[name] + Z * SE] for name in ("precision", "f1")}
    return {"paper_model": "samchat_r1", "tasks": {"samdata": {"paper": paper, "strict": {"f1": f1 / 2}, "errors": 0}}}


def by_key(rows):
    return {(r["metric"], r["protocol"]): r for r in rows}


def test_mean_min_max_and_the_pooled_interval():
    per_seed = {"seed 0": seed_metrics(0.4, 0.97), "seed 1": seed_metrics(0.5, 0.98), "seed 2": seed_metrics(0.6, 0.99)}
    rows = by_key(aggregate(per_seed, "samchat_r1"))
    f1 = rows[("f1", "paper")]
    assert (f1["seeds"], f1["mean"], f1["min"], f1["max"]) == (3, pytest.approx(0.5), 0.4, 0.6)
    assert f1["values"] == {"seed 0": 0.4, "seed 1": 0.5, "seed 2": 0.6}
    # s^2 = 0.01 over 3 seeds, plus the shared test-sample variance SE^2 = 0.0025.
    half = Z * math.sqrt(0.01 / 3 + SE**2)
    assert f1["pooled_ci95"] == pytest.approx([0.5 - half, 0.5 + half])
    assert (f1["paper"], f1["paper_inside"]) == ("not published here", "-")
    precision = rows[("precision", "paper")]
    assert (precision["paper"], precision["paper_inside"]) == ("0.98", "yes")
    # Metrics without intervals (recall here, strict F1) get mean and min-max only.
    assert rows[("recall", "paper")]["pooled_ci95"] is None
    assert rows[("recall", "paper")]["paper_inside"] == "-"  # "> 0.80" cannot be checked without an interval
    assert rows[("f1", "strict")]["mean"] == pytest.approx(0.25)
    assert rows[("f1", "strict")]["paper"] == "not published here"  # the paper's figures are paper-protocol ones


def test_one_seed_pools_to_its_own_interval():
    assert pooled_interval([0.5], [[0.4, 0.6]]) == pytest.approx([0.4, 0.6])


def test_a_seed_without_an_interval_leaves_the_pooled_one_out():
    assert pooled_interval([0.5, 0.6], [[0.4, 0.6], None]) is None
    per_seed = {"seed 0": seed_metrics(0.4, 0.9), "seed 1": seed_metrics(0.5, 0.9, with_intervals=False)}
    assert by_key(aggregate(per_seed))[("f1", "paper")]["pooled_ci95"] is None


def test_a_paper_figure_outside_the_pooled_interval():
    per_seed = {f"seed {i}": seed_metrics(0.5, p) for i, p in enumerate((0.70, 0.72, 0.74))}
    precision = by_key(aggregate(per_seed, "samchat_r1"))[("precision", "paper")]
    assert precision["pooled_ci95"][1] < 0.98
    assert precision["paper_inside"] == "no"


def test_markdown_table():
    per_seed = {"seed 0": seed_metrics(0.4, 0.97), "seed 1": seed_metrics(0.6, 0.99)}
    text = markdown(aggregate(per_seed, "samchat_r1"), "eval_samchat_r1")
    assert text.startswith("## eval_samchat_r1\n")
    assert "| samdata | precision | paper | 0.9800 | 0.9700-0.9900 | [" in text
    assert "| 0.98 | yes | 2 |" in text
    assert "| samdata | recall | paper | 0.5000 | 0.5000-0.5000 | - | > 0.80 | - | 2 |" in text
