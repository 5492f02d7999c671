"""Uncertainty of a task's figures over its test samples: bootstrap intervals, paired comparisons, McNemar's test.

Every interval is a 95% percentile bootstrap over the rows of a predictions file (seeded, `resamples` draws of n rows
with replacement). A metric is computed on each resample by the task's own scoring function, so metrics that are not
sample means (SAMData F1 / precision / recall, the paper protocol's ratios that leave failed or unparseable samples
out, precision@t over boxes) get their exact bootstrap distribution, not an approximation.

The one shortcut is exact too: when a metric is the plain mean of its single-row scores (accuracy under the strict
protocol, GeoVLM's per-sample F1 / ROUGE / AP means), resampling the vector of single-row scores gives the same
distribution as rescoring the rows, at numpy speed. `per_sample_scores` decides this by checking the identity on the
full set and on two resamples, never from a metric's name.

Cost: a rescored metric whose resamples would take over RESCORING_BUDGET_S (timed on the first one) is left out of
`ci95` with a warning naming it; eval.compare, asked for one comparison, has no such limit.

Which metrics get intervals: the ones reports show (`reported_metrics`): a task's headline metric, and for SAMData
precision, recall, F1 and accuracy.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest

from .tasks import Row, ScoreOptions, Task

logger = logging.getLogger("eval.intervals")

DEFAULT_RESAMPLES = 1000
# Scoring runs in eval.run after generation: a metric whose resamples would take longer than this to rescore (a
# slow scorer on a large test set) gets no interval, with a warning, rather than holding the run for hours.
RESCORING_BUDGET_S = 300.0
DEFAULT_SEED = 0
LEVEL = 0.95
IDENTITY_CHECK_ROWS = 50  # size of the two multisets that confirm a metric is a mean of its single-row scores
# The metrics that sum a task up besides its headline (SAMChat's paper reports all four for SAMData).
REPORTED = {"samdata": ("precision", "recall", "f1", "accuracy")}
# Two-sided percentiles of a LEVEL interval.
_PERCENTILES = (100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2)


def reported_metrics(task_key: str, headline: str) -> tuple[str, ...]:
    """The metrics report tables show for a task, which are the ones given intervals."""
    return REPORTED.get(task_key, (headline,))


def percentile_interval(values: Sequence[float] | np.ndarray) -> list[float]:
    low, high = np.percentile(np.asarray(values, dtype=float), _PERCENTILES)
    return [float(low), float(high)]


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def per_sample_scores(
    task: Task, rows: Sequence[Row], protocol: str, options: ScoreOptions, name: str, full: float
) -> np.ndarray | None:
    """Each row's score for `name` when the metric over any multiset of rows is the mean of these; None otherwise
    (a ratio with its own denominator, F1, a paper-protocol metric that leaves some rows out)."""
    values = []
    for row in rows:
        value = task.score([row], protocol, options).get(name)
        if not _numeric(value):
            return None
        values.append(float(value))
    scores = np.asarray(values)
    if not math.isclose(float(scores.mean()), full, abs_tol=1e-9):
        return None
    # The full set could match by coincidence (every score 0, say); two random multisets make that vanishingly unlikely.
    # Small ones: a mean is a mean at any size, and a slow scorer (EarthDial's captions) is not run twice more in full.
    rng = np.random.default_rng(len(rows))
    for _ in range(2):
        index = rng.integers(0, len(rows), min(len(rows), IDENTITY_CHECK_ROWS))
        value = task.score([rows[i] for i in index], protocol, options).get(name)
        if not _numeric(value) or not math.isclose(float(scores[index].mean()), value, abs_tol=1e-9):
            return None
    return scores


class _Resampler:
    """One metric's value on row multisets given by index arrays: by the per-sample shortcut or by rescoring."""

    def __init__(self, task: Task, rows: Sequence[Row], protocol: str, options: ScoreOptions, names: Sequence[str]):
        if "meteor" not in names:  # METEOR (a JVM or NLTK per call) only when it is a metric asked for
            options = dataclasses.replace(options, meteor=False)
        self.task, self.rows, self.protocol, self.options = task, rows, protocol, options
        full = task.score(rows, protocol, options)
        self.names = [name for name in names if _numeric(full.get(name))]
        self.full = {name: float(full[name]) for name in self.names}
        self.samples = {
            name: per_sample_scores(task, rows, protocol, options, name, self.full[name]) for name in self.names
        }

    def values(self, indices: Sequence[np.ndarray], budget: float | None = None) -> dict[str, np.ndarray]:
        """name -> one value per index array. With a `budget` (seconds), metrics whose rescoring would take longer
        (timed on the first resample) are left out with a warning, and out of `self.names`."""
        out: dict[str, np.ndarray] = {}
        rescored = [name for name in self.names if self.samples[name] is None]
        if rescored:
            start = time.perf_counter()
            scored = [self.task.score([self.rows[i] for i in indices[0]], self.protocol, self.options)]
            estimate = (time.perf_counter() - start) * len(indices)
            if budget is not None and estimate > budget:
                logger.warning(
                    "%s (%s protocol): no interval for %s: rescoring %d resamples of %d rows would take about %.0f s "
                    "(over %.0f s); fewer --resamples bring it under",
                    self.task.key,
                    self.protocol,
                    ", ".join(rescored),
                    len(indices),
                    len(self.rows),
                    estimate,
                    budget,
                )
                self.names = [name for name in self.names if name not in rescored]
            else:
                rest = indices[1:]
                scored += [
                    self.task.score([self.rows[i] for i in index], self.protocol, self.options) for index in rest
                ]
                out.update({name: np.asarray([float(m[name]) for m in scored]) for name in rescored})
        stacked = np.stack(indices)
        for name in self.names:
            if self.samples[name] is not None:
                out[name] = self.samples[name][stacked].mean(axis=1)
        return out


def draw_indices(n: int, resamples: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, n) for _ in range(resamples)]


def bootstrap_intervals(
    task: Task,
    rows: Sequence[Row],
    protocol: str,
    options: ScoreOptions,
    names: Sequence[str],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    budget: float | None = RESCORING_BUDGET_S,
) -> dict[str, list[float]]:
    """{metric: [low, high]}, the 95% percentile bootstrap interval of each numeric metric in `names`; a metric
    whose rescoring would take longer than `budget` seconds is left out with a warning (None: no limit)."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    resampler = _Resampler(task, rows, protocol, options, names)
    values = resampler.values(draw_indices(len(rows), resamples, seed), budget)
    return {name: percentile_interval(values[name]) for name in resampler.names}


def inside(value: float, interval: Sequence[float] | None) -> bool | None:
    """Whether a figure lies inside [low, high] (None without an interval)."""
    if interval is None:
        return None
    return interval[0] <= value <= interval[1]


# ---------------------------------------------------------------------------------------------------------------
# Paired comparison of two prediction sets of the same samples


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: samples right in A only and in B only.

    Under the null each discordant pair falls either way with probability 1/2, so the exact test is the two-sided
    binomial test of min(only_a, only_b) successes in only_a + only_b trials at p = 1/2 (scipy's `binomtest`).

    >>> mcnemar_exact(0, 5)
    0.0625
    >>> mcnemar_exact(3, 3)
    1.0
    """
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    return float(binomtest(min(only_a, only_b), discordant, 0.5).pvalue)


def bootstrap_p_value(deltas: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value of "no difference": twice the smaller share of resampled differences on
    either side of 0, with the +1 correction that keeps it above 0 for a finite number of resamples."""
    at_most = int(np.sum(deltas <= 0))
    at_least = int(np.sum(deltas >= 0))
    return min(1.0, 2 * (min(at_most, at_least) + 1) / (len(deltas) + 1))


def paired_rows(
    rows_a: Sequence[Row], rows_b: Sequence[Row], names: tuple[str, str], skip_unmatched: bool = False
) -> tuple[list[Row], list[Row], int]:
    """The rows of A and of B in one order, matched by sample id, and how many ids were in one file only.

    An id in one file only is an error naming it and its file, unless `skip_unmatched` (then counted)."""
    by_id_b = {str(row["id"]): row for row in rows_b}
    ids_a = [str(row["id"]) for row in rows_a]
    only_a = [i for i in ids_a if i not in by_id_b]
    only_b = sorted(set(by_id_b) - set(ids_a))
    if (only_a or only_b) and not skip_unmatched:
        side, ids = (names[0], only_a) if only_a else (names[1], only_b)
        more = f" and {len(only_a) + len(only_b) - 1} more" if len(only_a) + len(only_b) > 1 else ""
        raise ValueError(
            f"{side}: sample id {ids[0]!r} is not in the other file{more}; pairs need the same samples "
            "(--skip-unmatched compares the common ones)"
        )
    matched_a = [row for row in rows_a if str(row["id"]) in by_id_b]
    matched_b = [by_id_b[str(row["id"])] for row in matched_a]
    if not matched_a:
        raise ValueError(f"{names[0]} and {names[1]} have no sample id in common")
    return matched_a, matched_b, len(only_a) + len(only_b)


def _binary(scores: np.ndarray | None) -> bool:
    return scores is not None and bool(np.all((scores == 0) | (scores == 1)))


def compare_rows(
    task: Task,
    rows_a: Sequence[Row],
    rows_b: Sequence[Row],
    protocol: str,
    options: ScoreOptions,
    names: Sequence[str],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[dict]:
    """Per metric: A, B, delta = B - A, the paired-bootstrap 95% interval of delta and a p-value, on rows already
    paired (`paired_rows`). The test is exact McNemar when the metric is the mean of a 0/1 per-sample outcome in both
    sets (accuracy), a paired bootstrap otherwise (the same resampled sample ids for A and B)."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    a = _Resampler(task, rows_a, protocol, options, names)
    b = _Resampler(task, rows_b, protocol, options, names)
    indices = draw_indices(len(rows_a), resamples, seed)
    values_a, values_b = a.values(indices), b.values(indices)
    results = []
    for name in (n for n in a.names if n in b.names):
        deltas = values_b[name] - values_a[name]
        if _binary(a.samples[name]) and _binary(b.samples[name]):
            right_a, right_b = a.samples[name] == 1, b.samples[name] == 1
            p_value, test = mcnemar_exact(int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))), "mcnemar"
        else:
            p_value, test = bootstrap_p_value(deltas), "paired_bootstrap"
        results.append(
            {
                "task": task.key,
                "protocol": protocol,
                "metric": name,
                "a": a.full[name],
                "b": b.full[name],
                "delta": b.full[name] - a.full[name],
                "ci95": percentile_interval(deltas),
                "p_value": p_value,
                "test": test,
            }
        )
    return results
