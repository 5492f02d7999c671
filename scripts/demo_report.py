"""Write the demo's report: SAMData metrics of the base, SFT and GRPO checkpoints, and the training curves.

    python scripts/demo_report.py --demo-dir outputs/demo
    python scripts/demo_report.py --demo-dir outputs/demo --check-readme README.md   # README states these figures?
    python scripts/demo_report.py --spread seed0=outputs/spread/seed0 seed1=outputs/spread/seed1 ...   # runs side by side

Reads `<demo>/eval/{base,sft,grpo}/metrics.json` (written by eval.run) and the trainers' `trainer_state.json`
(SFT loss, GRPO rewards); writes `<demo>/report.md`, `sft_loss.png`, `grpo_rewards.png`, `f1_by_checkpoint.png`.
The figures are whatever the run produced: the report states them, it does not judge them. `--check-readme`
compares them with the demo table of README.md (paper protocol, three decimals) and exits 1, printing the table the
README should hold, when they differ: `make demo` runs it, and a slow test runs the full demo and requires a match.
`--spread` prints one row per finished demo (paper protocol), as `make demo-spread` does for seeds and CPU kernels.
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


def readme_table(metrics: dict[str, dict]) -> list[str]:
    lines = ["| checkpoint | F1 | precision | recall | accuracy |", "|---|---|---|---|---|"]
    for name in CHECKPOINTS:
        cells = " | ".join(f"{metrics[name]['paper'][c]:.3f}" for c in COLUMNS)
        lines.append(f"| {README_ROWS[name]} | {cells} |")
    return lines


def check_readme(metrics: dict[str, dict], readme: Path) -> list[str]:
    """The README's demo rows that differ from this run's figures ([] = the README is true)."""
    expected = readme_table(metrics)
    lines = [line.strip() for line in readme.read_text().splitlines()]
    if expected[0] not in lines:
        return expected[2:]  # no demo table at all
    start = lines.index(expected[0]) + 2
    stated = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    return [line for line in expected[2:] if line not in stated]


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
    parser.add_argument("--check-readme", type=Path, metavar="README.md", help="compare with the README's demo table")
    parser.add_argument("--spread", nargs="+", metavar="LABEL=DEMO_DIR", help="print finished demos side by side")
    args = parser.parse_args(argv)
    if args.spread:
        print("\n".join(spread_table(spread_runs(args.spread))))
        return 0
    if args.check_readme:
        metrics = {name: samdata_metrics(args.demo_dir / "eval" / name) for name in CHECKPOINTS}
        wrong = check_readme(metrics, args.check_readme)
        if wrong:
            print(f"{args.check_readme} does not state this demo's figures; its table should read:", file=sys.stderr)
            print("\n".join(readme_table(metrics)), file=sys.stderr)
            return 1
        print(f"{args.check_readme}: the demo table matches this run")
        return 0
    report = render(args.demo_dir)
    (args.demo_dir / "report.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
