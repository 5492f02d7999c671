"""Write the demo's report: SAMData metrics of the base, SFT and GRPO checkpoints, and the training curves.

    python scripts/demo_report.py --demo-dir outputs/demo
    python scripts/demo_report.py --demo-dir outputs/demo --check-readme README.md   # README states these figures?
    python scripts/demo_report.py --spread seed0=outputs/spread/seed0 seed1=outputs/spread/seed1 ...   # runs side by side

Reads `<demo>/eval/{base,sft,grpo}/metrics.json` (written by eval.run) and the trainers' `trainer_state.json`
(SFT loss, GRPO rewards); writes `<demo>/report.md`, `sft_loss.png`, `grpo_rewards.png`, `f1_by_checkpoint.png`.
The figures are whatever the run produced: the report states them, it does not judge them. `--check-readme`
compares them with the demo table of README.md (paper protocol, three decimals), names every figure that differs
and by how much, and exits 1, printing the table the README would hold, when one differs by more than
README_TOLERANCE (what README says to expect on another machine): `make demo` runs it, and so does a slow test.
`--spread` prints one row per finished demo (paper protocol), as `make demo-spread` does for seeds and CPU kernels,
then the seed runs aggregated as `scripts/reproduce.py --seeds` aggregates a paper run (eval.seeds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from eval.report import with_interval  # noqa: E402
from eval.seeds import aggregate  # noqa: E402

CHECKPOINTS = ("base", "sft", "grpo")
PROTOCOLS = ("paper", "strict")
COLUMNS = ("f1", "precision", "recall", "accuracy")


def trainer_log(run_dir: Path) -> list[dict]:
    """The log history of a finished run: trainer_state.json in the run folder, else in its latest checkpoint."""
    candidates = [run_dir / "trainer_state.json"] + sorted(
        run_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
    )[::-1]
    for path in candidates:
        if path.is_file():
            return json.loads(path.read_text())["log_history"]
    raise SystemExit(f"no trainer_state.json in {run_dir} or its checkpoints: did the run finish?")


def samdata_metrics(eval_dir: Path) -> dict:
    """{"paper": {...}, "strict": {...}, "errors": n} of the samdata task in an eval.run output folder."""
    path = eval_dir / "metrics.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run eval.run for this checkpoint first")
    task = json.loads(path.read_text())["tasks"]["samdata"]
    return {"paper": task["paper"], "strict": task["strict"], "errors": task.get("errors", 0)}


def interval_table(metrics: dict[str, dict]) -> list[str]:
    """F1 and accuracy with their 95% bootstrap intervals over the test images (eval.run's `ci95`, SPEC 6.5): how
    far the figures could move with another draw of test scenes, before any seed or CPU changes them."""
    lines = [
        "95% bootstrap intervals over the test images (1000 resamples, eval.run's `ci95`):",
        "",
        "| checkpoint | " + " | ".join(f"{p} {c}" for p in PROTOCOLS for c in ("f1", "accuracy")) + " |",
        "|---|---|---|---|---|",
    ]
    for name in CHECKPOINTS:
        cells = [
            with_interval(metrics[name][p][c], metrics[name][p].get("ci95", {}).get(c))
            for p in PROTOCOLS
            for c in ("f1", "accuracy")
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def plot_series(logs: list[dict], keys: list[str], title: str, out: Path) -> list[str]:
    """Plot each key that the log has against the step; returns the keys plotted."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    plotted = []
    for key in keys:
        points = [(e["step"], e[key]) for e in logs if key in e]
        if points:
            ax.plot(*zip(*points), marker=".", label=key)
            plotted.append(key)
    ax.set_xlabel("step")
    ax.set_title(title)
    if plotted:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return plotted


def plot_f1(metrics: dict[str, dict], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    width = 0.38
    for i, protocol in enumerate(PROTOCOLS):
        values = [metrics[name][protocol]["f1"] for name in CHECKPOINTS]
        bars = ax.bar([x + (i - 0.5) * width for x in range(len(CHECKPOINTS))], values, width, label=protocol)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(CHECKPOINTS)), CHECKPOINTS)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 on synthetic SAMData-Test")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def first_last(logs: list[dict], key: str) -> tuple[float, float] | None:
    values = [e[key] for e in logs if key in e]
    return (values[0], values[-1]) if values else None


def render(demo: Path) -> str:
    metrics = {name: samdata_metrics(demo / "eval" / name) for name in CHECKPOINTS}
    sft_logs, grpo_logs = trainer_log(demo / "sft"), trainer_log(demo / "grpo")
    reward_keys = sorted({k for e in grpo_logs for k in e if k == "reward" or k.startswith("rewards/")})
    plot_series(sft_logs, ["loss"], "SFT training loss", demo / "sft_loss.png")
    plot_series(grpo_logs, reward_keys, "GRPO rewards (mean per step)", demo / "grpo_rewards.png")
    plot_f1(metrics, demo / "f1_by_checkpoint.png")

    header = "| checkpoint | " + " | ".join(f"{p} {c}" for p in PROTOCOLS for c in COLUMNS) + " | errors |"
    lines = [
        "# rs-r1 demo report",
        "",
        "Tiny offline Qwen2-VL on synthetic SAMData (procedural aerial scenes), CPU. The pipeline of SAMChat-R1 in "
        "miniature: CoT SFT, then GRPO with format and keyword rewards, each checkpoint evaluated on the synthetic "
        "test set with the paper protocol (keyword substring) and the strict protocol (whole word, negation-aware).",
        "",
        "## SAMData metrics by checkpoint",
        "",
        header,
        "|" + "---|" * (2 + len(PROTOCOLS) * len(COLUMNS)),
    ]
    for name in CHECKPOINTS:
        cells = [f"{metrics[name][p][c]:.3f}" for p in PROTOCOLS for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {metrics[name]['errors']} |")
    lines += ["", *interval_table(metrics)]
    base_f1 = metrics["base"]["paper"]["f1"]
    best = max(("sft", "grpo"), key=lambda n: metrics[n]["paper"]["f1"])
    lines += [
        "",
        f"Paper-protocol F1: base {base_f1:.3f}, SFT {metrics['sft']['paper']['f1']:.3f}, "
        f"GRPO {metrics['grpo']['paper']['f1']:.3f}; best trained checkpoint: {best} "
        f"({metrics[best]['paper']['f1'] - base_f1:+.3f} over the untrained model).",
        "",
        "![F1 by checkpoint](f1_by_checkpoint.png)",
        "",
        "## Training",
        "",
    ]
    loss = first_last(sft_logs, "loss")
    if loss:
        lines.append(f"SFT loss: {loss[0]:.3f} at the first logged step, {loss[1]:.3f} at the last.")
    for key in reward_keys:
        span = first_last(grpo_logs, key)
        lines.append(f"GRPO `{key}`: {span[0]:.3f} first, {span[1]:.3f} last.")
    lines += ["", "![SFT loss](sft_loss.png)", "", "![GRPO rewards](grpo_rewards.png)", ""]
    return "\n".join(lines)


# The README's demo table: its rows, in CHECKPOINTS order, and its columns (the paper protocol's COLUMNS).
README_ROWS = {"base": "base (random)", "sft": "CoT SFT", "grpo": "GRPO"}


README_HEADER = "| checkpoint | F1 | precision | recall | accuracy |"


def readme_table(metrics: dict[str, dict]) -> list[str]:
    lines = [README_HEADER, "|---|---|---|---|---|"]
    for name in CHECKPOINTS:
        cells = " | ".join(f"{metrics[name]['paper'][c]:.3f}" for c in COLUMNS)
        lines.append(f"| {README_ROWS[name]} | {cells} |")
    return lines


# How far a figure of the default demo may sit from README's table and still be what README says to expect: the
# largest gap measured between runs that differ only in CPU kernels or thread count (README, "Seeds and CPU
# types"), rounded up. Within it the check passes and names each gap; beyond it the check fails.
README_TOLERANCE = 0.05


def readme_rows(readme: Path) -> dict[str, tuple[float, ...]] | None:
    """README's demo table as {row label: paper-protocol figures}, or None when README has no demo table."""
    lines = [line.strip() for line in readme.read_text().splitlines()]
    if README_HEADER not in lines:
        return None
    stated = itertools.takewhile(lambda line: line.startswith("|"), lines[lines.index(README_HEADER) + 2 :])
    rows = {}
    for line in stated:
        label, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        try:
            rows[label] = tuple(float(cell) for cell in cells)
        except ValueError:
            raise SystemExit(f"{readme}: demo table row {line!r} holds a cell that is not a number") from None
    return rows


def readme_gaps(metrics: dict[str, dict], readme: Path) -> list[tuple[str, str, float | None, float]]:
    """(row, column, README's figure or None when README lacks the row, this run's figure) for every figure of
    this run that README's demo table does not state exactly ([] = the README is exact)."""
    stated = readme_rows(readme) or {}
    gaps = []
    for name in CHECKPOINTS:
        row = README_ROWS[name]
        for i, column in enumerate(COLUMNS):
            ours = round(metrics[name]["paper"][column], 3)
            theirs = stated[row][i] if row in stated and i < len(stated[row]) else None
            if theirs is None or abs(ours - theirs) > 5e-4:
                gaps.append((row, column, theirs, ours))
    return gaps


def check_readme(metrics: dict[str, dict], readme: Path, tolerance: float = README_TOLERANCE) -> tuple[bool, list[str]]:
    """Whether README's demo table holds for this run within `tolerance`, and one plain line per figure that
    differs: which, README's value, this run's, by how much, and whether that is within what README says to expect."""
    lines, holds = [], True
    for row, column, theirs, ours in readme_gaps(metrics, readme):
        if theirs is None:
            holds = False
            lines.append(f"{row} {column}: README states no figure, this run {ours:.3f}")
            continue
        within = abs(ours - theirs) <= tolerance + 5e-4
        holds &= within
        verdict = "within" if within else "BEYOND"
        lines.append(
            f"{row} {column}: README {theirs:.3f}, this run {ours:.3f} ({ours - theirs:+.3f}), {verdict} the "
            f"+-{tolerance:.2f} README says to expect on another machine"
        )
    return holds, lines


SPREAD_HEADER = "| run | base F1 | SFT F1 | GRPO F1 | GRPO precision | GRPO recall | GRPO accuracy |"


def spread_table(runs: dict[str, dict[str, dict]]) -> list[str]:
    """One row per demo run (label -> its checkpoints' metrics), paper protocol: how far the figures move with the
    seed or the CPU's kernels."""
    lines = [SPREAD_HEADER, "|---|---|---|---|---|---|---|"]
    for label, metrics in runs.items():
        grpo = metrics["grpo"]["paper"]
        cells = [metrics["base"]["paper"]["f1"], metrics["sft"]["paper"]["f1"], *(grpo[c] for c in COLUMNS)]
        lines.append(f"| {label} | " + " | ".join(f"{value:.3f}" for value in cells) + " |")
    return lines


def seed_summary(folders: dict[str, Path]) -> list[str]:
    """The trained checkpoints' F1 and accuracy over the seed runs (label -> demo folder), aggregated as
    `scripts/reproduce.py --seeds` aggregates a paper run's seeds (eval.seeds: mean, min-max, pooled interval)."""
    lines = [
        "| checkpoint | metric | mean | min-max | pooled 95% interval | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("sft", "grpo"):
        per_seed = {
            label: json.loads((folder / "eval" / name / "metrics.json").read_text())
            for label, folder in folders.items()
        }
        for row in aggregate(per_seed):
            if row["protocol"] == "paper" and row["metric"] in ("f1", "accuracy"):
                pooled = "-" if row["pooled_ci95"] is None else "[{:.3f}, {:.3f}]".format(*row["pooled_ci95"])
                lines.append(
                    f"| {name} | {row['metric']} | {row['mean']:.3f} | {row['min']:.3f}-{row['max']:.3f} | {pooled} "
                    f"| {row['seeds']} |"
                )
    return lines


def spread_runs(specs: list[str]) -> dict[str, dict[str, dict]]:
    runs = {}
    for spec in specs:
        label, sep, folder = spec.partition("=")
        if not sep or not label or not folder:
            raise SystemExit(f"--spread takes LABEL=DEMO_DIR, got {spec!r}")
        runs[label] = {name: samdata_metrics(Path(folder) / "eval" / name) for name in CHECKPOINTS}
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-dir", type=Path, default=Path("outputs/demo"))
    parser.add_argument(
        "--check-readme",
        type=Path,
        metavar="README.md",
        help="write the report, then compare with the README's demo table",
    )
    parser.add_argument("--spread", nargs="+", metavar="LABEL=DEMO_DIR", help="print finished demos side by side")
    args = parser.parse_args(argv)
    if args.spread:
        print("\n".join(spread_table(spread_runs(args.spread))))
        # The seed runs (labels "seed N"), not the kernel / thread variants of one seed, make the aggregate.
        seeds = {
            label: Path(folder)
            for label, _, folder in (spec.partition("=") for spec in args.spread)
            if label.startswith("seed ") and label[5:].isdigit()
        }
        if len(seeds) > 1:
            print(f"\nOver the {len(seeds)} seeds (paper protocol; eval.seeds):\n")
            print("\n".join(seed_summary(seeds)))
        return 0
    report = render(args.demo_dir)
    (args.demo_dir / "report.md").write_text(report)
    print(report)
    if args.check_readme:  # after the report, in the same process (one interpreter start less in `make demo`)
        metrics = {name: samdata_metrics(args.demo_dir / "eval" / name) for name in CHECKPOINTS}
        holds, differences = check_readme(metrics, args.check_readme)
        if not differences:
            print(f"{args.check_readme}: the demo table matches this run exactly")
            return 0
        print(f"\n{args.check_readme}: this run's figures differ from the demo table:")
        print("\n".join(f"  {line}" for line in differences))
        if holds:
            print(f"Every difference is within the +-{README_TOLERANCE:.2f} that {args.check_readme} says to expect.")
            return 0
        print(f"{args.check_readme} does not state this demo's figures; its table would read:", file=sys.stderr)
        print("\n".join(readme_table(metrics)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
