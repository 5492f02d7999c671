"""Results as people read them: `report.md` (ours under both protocols beside the paper's number where SPEC 9 has
one), per-task bar charts and the SAMData confusion matrix (PNG), and `compare()` for a table over checkpoints.

Paper numbers (SPEC 9) are only the ones available here: SAMChat-R1's SAMData precision and recall (abstract) and
GeoVLM-R1's README figures that have a ScoreRS counterpart (AID, WHU-RS19, RSVQA-LR / -HR averages). They are
attached to a paper model named with `--paper-model`; GeoVLM-R1's own test splits may differ from ScoreRS's.
Everything else says "not published here".

Intervals: where metrics.json has them (`ci95`, eval.intervals), each figure is followed by its 95% bootstrap
interval over the test samples, and a published figure is checked against the interval of the paper protocol (the
paper's own scorer): "yes" when it lies inside, "no" when outside ("> 0.80" is inside when the interval reaches
above 0.80), "-" when there is no interval or no published number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from .intervals import reported_metrics
from .tasks import PROTOCOLS, TASKS

NOT_PUBLISHED = "not published here"

# Averages the papers report over several tasks: name -> (member tasks, metric).
AVERAGES = {
    "RSVQA-LR average": (("vqa_LR-comp", "vqa_LR-pre", "vqa_LR-rural"), "accuracy"),
    "RSVQA-HR average": (("vqa_HR-comp", "vqa_HR-pre"), "accuracy"),
}

# SPEC 9: paper model -> {(task or average, metric): published value as text}.
PAPER_NUMBERS: dict[str, dict[tuple[str, str], str]] = {
    "samchat_r1": {("samdata", "precision"): "0.98", ("samdata", "recall"): "> 0.80"},
    "geovlm_r1": {
        ("cls_aid", "accuracy"): "0.8846",
        ("cls_WHU_RS19", "accuracy"): "0.9791",
        ("RSVQA-LR average", "accuracy"): "0.9266",
        ("RSVQA-HR average", "accuracy"): "0.7527",
        # The same figures on EarthDial-Bench, GeoVLM-R1's own benchmark (SPEC 9, EARTHDIAL.md 6).
        ("earthdial_aid", "accuracy"): "0.8846",
        ("earthdial_ucm", "accuracy"): "0.9781",
        ("earthdial_whu19", "accuracy"): "0.9791",
        ("earthdial_bigearthnet", "accuracy"): "0.8091",
        ("earthdial_xbd_set1", "accuracy"): "0.9893",
        ("earthdial_fmow", "accuracy"): "0.7693",
        ("earthdial_rsvqa_lr", "average"): "0.9266",
        ("earthdial_rsvqa_hr", "average"): "0.7527",
        ("earthdial_xbd_det", "precision@0.5"): "0.3815",
    },
}


def headline(task_key: str) -> str:
    """The task's headline metric (its Task record's); "accuracy" for a key no longer registered."""
    task = TASKS.get(task_key)
    return task.headline if task is not None else "accuracy"


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def table_rows(metrics: Mapping) -> list[tuple[str, str, object, object, int]]:
    """(task, metric, paper-protocol value, strict value, errors) for the headline metrics, then the averages."""
    tasks = metrics.get("tasks", {})
    rows = []
    for key, result in tasks.items():
        for name in reported_metrics(key, headline(key)):
            rows.append((key, name, result["paper"].get(name), result["strict"].get(name), result.get("errors", 0)))
    for name, (members, metric) in AVERAGES.items():
        if all(m in tasks for m in members):
            values = {p: sum(tasks[m][p][metric] for m in members) / len(members) for p in PROTOCOLS}
            errors = sum(tasks[m].get("errors", 0) for m in members)
            rows.append((name, metric, values["paper"], values["strict"], errors))
    return rows


def interval(metrics: Mapping, task: str, protocol: str, name: str) -> list[float] | None:
    """The [low, high] of a task's metric under a protocol in metrics.json, None where none was computed."""
    result = metrics.get("tasks", {}).get(task, {})
    return (result.get(protocol) or {}).get("ci95", {}).get(name)


def with_interval(value: object, bounds: list[float] | None) -> str:
    """A figure and, when there is one, its interval: `0.8100 [0.7300, 0.8800]`."""
    return _fmt(value) if bounds is None else f"{_fmt(value)} [{bounds[0]:.4f}, {bounds[1]:.4f}]"


def paper_inside(published: str, bounds: list[float] | None) -> str:
    """Whether a published figure ("0.98", "> 0.80", "< 0.1") is consistent with our interval: yes / no / -."""
    if bounds is None or published == NOT_PUBLISHED:
        return "-"
    text = published.strip()
    try:
        if text.startswith(">"):
            return "yes" if bounds[1] > float(text[1:]) else "no"
        if text.startswith("<"):
            return "yes" if bounds[0] < float(text[1:]) else "no"
        return "yes" if bounds[0] <= float(text) <= bounds[1] else "no"
    except ValueError:  # a figure that is not a number (a range in words): nothing to check
        return "-"


def markdown(metrics: Mapping) -> str:
    paper = PAPER_NUMBERS.get(metrics.get("paper_model") or "", {})
    lines = [
        f"# Evaluation of `{metrics.get('model')}`",
        "",
        f"Prompt style: {metrics.get('prompt_style')}; reasoning: {metrics.get('reasoning')}; backend: "
        f"{metrics.get('backend')}; data: `{metrics.get('data_root')}`; limit: {metrics.get('limit')}; "
        f"paper numbers of: {metrics.get('paper_model') or 'none chosen'}.",
        "",
        "Paper protocol: the published scorer with its quirks (SPEC 6; GeoVLM tasks: the SPEC 6.3 metrics), failed "
        "samples left out as upstream lost them. Strict: exact matching, unparseable and failed samples count as "
        "wrong. Errors: samples whose image could not be read or whose generation failed (never dropped silently).",
        "",
        'Figures in brackets: 95% bootstrap intervals over the test samples (eval.intervals); "paper inside": '
        "whether the paper's figure lies inside our paper-protocol interval.",
        "",
        "| task | metric | ours (paper protocol) | ours (strict) | paper | paper inside | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, name, ours, strict, errors in table_rows(metrics):
        published = paper.get((task, name), NOT_PUBLISHED)
        bounds = {p: interval(metrics, task, p, name) for p in PROTOCOLS}
        lines.append(
            f"| {task} | {name} | {with_interval(ours, bounds['paper'])} | {with_interval(strict, bounds['strict'])} "
            f"| {published} | {paper_inside(published, bounds['paper'])} | {errors} |"
        )
    failed = {key: t for key, t in metrics.get("tasks", {}).items() if t.get("errors")}
    if failed:
        lines += [
            "",
            "Failed samples (in predictions.jsonl with their `error`; scored as wrong by the strict protocol):",
        ]
        lines += [""]
        for key, result in failed.items():
            shown = "; ".join(result.get("error_messages", [])[:3])
            lines.append(
                f"- {key}: {result['errors']} of {result.get('samples', '?')}" + (f": {shown}" if shown else "")
            )
    samdata = metrics.get("tasks", {}).get("samdata")
    if samdata:
        lines += ["", "SAMData per category (paper protocol; 0/1 military easy/hard, 2 civilian):", ""]
        lines += ["| category | correct | total |", "|---|---|---|"]
        for category, counts in samdata["paper"]["per_category"].items():
            lines.append(f"| {category} | {counts['correct']} | {counts['total']} |")
    return "\n".join(lines) + "\n"


def compare(metrics_files: Mapping[str, str | os.PathLike], protocol: str = "paper") -> str:
    """One Markdown table of the headline metrics of several checkpoints (columns) under one protocol."""
    loaded = {name: json.loads(Path(path).read_text(encoding="utf-8")) for name, path in metrics_files.items()}
    keys: dict[tuple[str, str], None] = {}
    values: dict[str, dict[tuple[str, str], object]] = {}
    for name, metrics in loaded.items():
        values[name] = {}
        for task, metric, ours, strict, _ in table_rows(metrics):
            keys[(task, metric)] = None
            values[name][(task, metric)] = ours if protocol == "paper" else strict
    names = list(loaded)
    lines = [
        f"| task | metric | {' | '.join(names)} |",
        "|---|---|" + "---|" * len(names),
    ]
    for key in keys:
        cells = " | ".join(_fmt(values[n].get(key, "-")) for n in names)
        lines.append(f"| {key[0]} | {key[1]} | {cells} |")
    return "\n".join(lines) + "\n"


def plot_tasks(metrics: Mapping, path: Path) -> None:
    """Headline metric of every task, paper protocol beside strict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table_rows(metrics) if r[0] != "samdata" or r[1] == "f1"]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(rows) + 2), 3.8))
    width = 0.4
    for i, protocol in enumerate(PROTOCOLS):
        heights = [float(r[2 + i] or 0.0) for r in rows]
        ax.bar([x + (i - 0.5) * width for x in range(len(rows))], heights, width, label=protocol)
    ax.set_xticks(range(len(rows)), [f"{r[0]}\n{r[1]}" for r in rows], rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(f"{Path(str(metrics.get('model'))).name}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(samdata: Mapping, path: Path) -> None:
    """SAMData confusion matrices (rows: truth, columns: prediction), one per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PROTOCOLS), figsize=(3.4 * len(PROTOCOLS), 3.2))
    for ax, protocol in zip(axes, PROTOCOLS):
        m = samdata[protocol]
        matrix = [[m["tp"], m["fn"]], [m["fp"], m["tn"]]]
        ax.imshow(matrix, cmap="Blues")
        for r in range(2):
            for c in range(2):
                ax.text(c, r, str(matrix[r][c]), ha="center", va="center")
        ax.set_xticks([0, 1], ["military", "civilian"])
        ax.set_yticks([0, 1], ["military", "civilian"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(protocol)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(metrics: Mapping, output_dir: str | os.PathLike) -> list[Path]:
    """report.md, tasks.png and (with SAMData) samdata_confusion.png in `output_dir`; returns their paths."""
    out = Path(output_dir)
    paths = [out / "report.md", out / "tasks.png"]
    tmp = out / ".report.md.tmp"
    tmp.write_text(markdown(metrics), encoding="utf-8")
    os.replace(tmp, paths[0])
    plot_tasks(metrics, paths[1])
    if "samdata" in metrics.get("tasks", {}):
        paths.append(out / "samdata_confusion.png")
        plot_confusion(metrics["tasks"]["samdata"], paths[-1])
    return paths
