"""Figures over several training seeds: per reported metric the mean, the min-max across seeds and a pooled interval,
beside the paper's number (`scripts/reproduce.py --seeds`, `make demo-spread`).

Input: one metrics dict per seed, as `eval.run` writes metrics.json (`tasks` -> task -> protocol -> metrics, with
`ci95` when intervals were computed). The pooled 95% interval of the mean over k seeds is

    mean +- 1.96 * sqrt(s^2 / k + se^2)

with s the standard deviation across seeds (the seed-to-seed spread, 0 for one seed) and se^2 the mean over seeds of
each seed's squared test-sample standard error, read off its bootstrap interval as (high - low) / (2 * 1.96). The
test-sample part is not divided by k: every seed is scored on the same test samples, so averaging seeds does not
average that noise away. A normal approximation: with three seeds s is itself uncertain, so read min-max beside it.
Without every seed's interval for a metric the pooled interval is left out ("-"), never made from the spread alone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from statistics import NormalDist

from .intervals import LEVEL
from .report import NOT_PUBLISHED, PAPER_NUMBERS, interval, paper_inside, table_rows
from .tasks import PROTOCOLS

Z = NormalDist().inv_cdf((1 + LEVEL) / 2)
EXPLANATION = (
    "Per metric: the mean over the seeds, their min-max, and the pooled 95% interval of the mean, "
    "mean ± 1.96·sqrt(s²/k + se²) (s: the seeds' standard deviation, k seeds, se²: the seeds' mean squared "
    'test-sample standard error from their bootstrap intervals; eval.seeds). "paper inside": whether the paper\'s '
    "figure lies inside the pooled interval (paper protocol)."
)


def pooled_interval(values: list[float], intervals: list[list[float] | None]) -> list[float] | None:
    """The pooled 95% interval of the seeds' mean (module docstring), None unless every seed has an interval."""
    if not values or any(bounds is None for bounds in intervals):
        return None
    mean = statistics.fmean(values)
    spread = statistics.variance(values) / len(values) if len(values) > 1 else 0.0
    sample = statistics.fmean(((high - low) / (2 * Z)) ** 2 for low, high in intervals)
    half = Z * math.sqrt(spread + sample)
    return [mean - half, mean + half]


def aggregate(per_seed: Mapping[str, Mapping], paper_model: str | None = None) -> list[dict]:
    """One dict per (task, metric, protocol) of the report's table: `task`, `metric`, `protocol`, `seeds` (how
    many had it), `values` (seed -> value), `mean`, `min`, `max`, `pooled_ci95`, `paper` and `paper_inside` (the
    paper protocol only: whether the published figure lies inside the pooled interval)."""
    published = PAPER_NUMBERS.get(paper_model or "", {})
    found: dict[tuple[str, str], dict[str, dict[str, tuple[float, list[float] | None]]]] = {}
    for seed, metrics in per_seed.items():
        for task, name, paper_value, strict_value, _ in table_rows(metrics):
            entry = found.setdefault((task, name), {p: {} for p in PROTOCOLS})
            for protocol, value in zip(PROTOCOLS, (paper_value, strict_value)):
                if isinstance(value, (int, float)):
                    entry[protocol][seed] = (float(value), interval(metrics, task, protocol, name))
    rows = []
    for (task, name), by_protocol in found.items():
        for protocol, by_seed in by_protocol.items():
            if not by_seed:
                continue
            values = [value for value, _ in by_seed.values()]
            pooled = pooled_interval(values, [bounds for _, bounds in by_seed.values()])
            paper = published.get((task, name), NOT_PUBLISHED) if protocol == "paper" else NOT_PUBLISHED
            rows.append(
                {
                    "task": task,
                    "metric": name,
                    "protocol": protocol,
                    "seeds": len(values),
                    "values": {seed: value for seed, (value, _) in by_seed.items()},
                    "mean": statistics.fmean(values),
                    "min": min(values),
                    "max": max(values),
                    "pooled_ci95": pooled,
                    "paper": paper,
                    "paper_inside": paper_inside(paper, pooled),
                }
            )
    return rows


def markdown(rows: list[dict], title: str = "") -> str:
    """The aggregated table: one line per task, metric and protocol."""
    lines = [f"## {title}", ""] if title else []
    lines += [
        "| task | metric | protocol | mean | min-max | pooled 95% interval | paper | paper inside | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pooled = "-" if r["pooled_ci95"] is None else f"[{r['pooled_ci95'][0]:.4f}, {r['pooled_ci95'][1]:.4f}]"
        lines.append(
            f"| {r['task']} | {r['metric']} | {r['protocol']} | {r['mean']:.4f} | {r['min']:.4f}-{r['max']:.4f} "
            f"| {pooled} | {r['paper']} | {r['paper_inside']} | {r['seeds']} |"
        )
    return "\n".join(lines) + "\n"
