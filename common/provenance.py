"""How a checkpoint was made, written beside its weights: the run record and the model card.

Every training run (sft.train, grpo.train, each grpo.stages stage) writes into its output_dir:

- `rs_r1_run.yaml`, the run record: per launch (a resumed run appends one), the fully resolved configuration of
  every argument group (data / model / script arguments and the training arguments: `iou_mode`, `prompt_template`,
  `reward_funcs`, `judge_policy`, pixel limits, ... whatever changes a paper number), the command line, the git
  commit and whether the tree was dirty, the library versions, and a fingerprint of the data (see `fingerprint`).
- `README.md`, a Hugging Face model card (its YAML metadata block names the base model, the Hub datasets, the
  stage and recipe; the text says what to cite). `eval.run` adds its metrics to the card of the checkpoint it
  scored (`model-index` metadata and a table) and copies the run record into metrics.json.

Secrets never reach these files: fields whose name says token, key or password are written as "<hidden>".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import importlib.metadata
import logging
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

RUN_FILE = "rs_r1_run.yaml"
CARD_FILE = "README.md"
REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "rs-r1",
    "torch",
    "torchvision",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "deepspeed",
    "qwen-vl-utils",
    "flash-attn",
    "vllm",
    "liger-kernel",
)
_SECRET_RE = re.compile(r"token|api_key|apikey|password|secret", re.IGNORECASE)
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What a stage's recipe reproduces, for the card's citation: the recipe file names start with the paper's name.
PAPERS = {
    "samchat": (
        "SAMChat",
        "Köksal & Alatan, SAMChat: Introducing Chain-of-Thought Reasoning and GRPO to a Multimodal Small Language "
        "Model for Small-Scale Remote Sensing, IEEE JSTARS 19 (2026), doi:10.1109/JSTARS.2025.3637115",
    ),
    "tinyrs": (
        "TinyRS-R1",
        "Köksal & Alatan, TinyRS-R1: Compact Vision Language Model for Remote Sensing, IEEE GRSL (2025)",
    ),
    "geovlm": (
        "GeoVLM-R1",
        "Fiaz et al., GeoVLM-R1: Reinforcement Fine-Tuning for Improved Remote Sensing Reasoning, arXiv:2509.25026",
    ),
}


def git_state(repo: Path = REPO) -> dict[str, Any]:
    """The commit of the code that ran and whether the work tree had changes; None for both outside a checkout."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit.strip() if commit else None,
        "dirty": None if status is None else bool(status.strip()),
    }


def library_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def sha256_file(path: Path) -> str:
    """The sha256 of a file's contents, read in 1 MiB blocks (data fingerprints, the pinned tokenizer files)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(paths: Iterable[str | os.PathLike | None]) -> list[dict[str, Any]]:
    """One entry per data source: a file's size and the sha256 of its contents; a folder's file count, total size
    and the sha256 of its sorted (relative path, size) listing (image folders of a million files are listed, not
    read); a name that is not a local path is recorded as a Hub id."""
    entries = []
    for raw in paths:
        if not raw:
            continue
        path = Path(raw).expanduser()
        if path.is_file():
            entries.append({"path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": sha256_file(path)})
        elif path.is_dir():
            listing = hashlib.sha256()
            files = total = 0
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    file = Path(root, name)
                    size = file.stat().st_size
                    listing.update(f"{file.relative_to(path).as_posix()}\t{size}\n".encode())
                    files += 1
                    total += size
            entries.append(
                {"path": str(path.resolve()), "files": files, "bytes": total, "listing_sha256": listing.hexdigest()}
            )
        else:
            entries.append({"path": str(raw), "hub": True})
    return entries


def _plain(value: Any) -> Any:
    """A YAML-safe copy of an argument value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def resolved_config(groups: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every field of every argument group, as parsed (recipe + command line + defaults), secrets hidden."""
    config = {}
    for name, group in groups.items():
        values = {f.name: getattr(group, f.name) for f in dataclasses.fields(group) if f.init}
        config[name] = {
            key: "<hidden>" if _SECRET_RE.search(key) and value not in (None, "") else _plain(value)
            for key, value in sorted(values.items())
        }
    return config


@dataclasses.dataclass
class RunInfo:
    """What a training entry point knows about its run; `train_and_save` records it (main process only)."""

    stage: str  # "sft" | "grpo"
    groups: Mapping[str, Any]  # argument group name -> dataclass instance
    base_model: str
    data: list[str]  # files, folders or Hub ids the records came from
    records: int
    command: list[str] | None = None  # the arguments the stage was parsed from (recipe + overrides)

    @property
    def recipe(self) -> str | None:
        argv = self.command or []
        return argv[argv.index("--config") + 1] if "--config" in argv[:-1] else None

    def launch(self) -> dict[str, Any]:
        return {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "stage": self.stage,
            "recipe": self.recipe,
            "command": self.command,
            "base_model": self.base_model,
            "git": git_state(),
            "versions": library_versions(),
            "data": {"records": self.records, "sources": fingerprint(self.data)},
            "config": resolved_config(self.groups),
        }


def read_run_record(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(model_dir) / RUN_FILE
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_run_record(output_dir: str | os.PathLike, run: RunInfo) -> Path:
    """Append this launch to the run record (a resumed run keeps the launches before it)."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    record = read_run_record(output) or {"launches": []}
    record["launches"].append(run.launch())
    if len(record["launches"]) > 1 and record["launches"][-1]["config"] != record["launches"][-2]["config"]:
        logger.warning("%s: this launch's configuration differs from the previous launch's (see %s)", output, RUN_FILE)
    path = output / RUN_FILE
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(record, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(path)
    return path


def _paper(recipe: str | None) -> tuple[str, str] | None:
    name = Path(recipe).stem if recipe else ""
    return next((paper for prefix, paper in PAPERS.items() if name.startswith(prefix)), None)


def write_model_card(output_dir: str | os.PathLike, run: RunInfo) -> Path:
    """A model card for the saved model (replacing the trainer's draft): metadata block, how it was trained, what
    to cite. `eval.run` adds the metrics."""
    from huggingface_hub import ModelCard, ModelCardData

    output = Path(output_dir)
    launch = (read_run_record(output) or {"launches": [run.launch()]})["launches"][-1]
    paper = _paper(run.recipe)
    hub_data = [d for d in run.data if d and _HUB_ID_RE.match(str(d)) and not Path(d).exists()]
    base = run.base_model if _HUB_ID_RE.match(run.base_model) and not Path(run.base_model).exists() else None
    data = ModelCardData(
        base_model=base,
        datasets=hub_data or None,
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        tags=["rs-r1", run.stage, "remote-sensing", "qwen2-vl"] + ([paper[0]] if paper else []),
    )
    git = launch["git"]
    sources = "\n".join(
        f"- `{s['path']}`" + ("" if s.get("hub") else f" ({s['bytes']} bytes)") for s in launch["data"]["sources"]
    )
    text = f"""---
{data.to_yaml()}
---

# {output.name}

Trained with rs-r1's stage `{run.stage}` from `{run.base_model}`, recipe `{run.recipe}`
(reproducing {paper[0] if paper else "no paper recipe"}), {launch["data"]["records"]} training records from:

{sources}

Code: commit `{git["commit"]}`{" with uncommitted changes" if git["dirty"] else ""}; torch
{launch["versions"]["torch"]}, transformers {launch["versions"]["transformers"]}, trl {launch["versions"]["trl"]}.
The fully resolved configuration, command line and data fingerprint of every launch are in `{RUN_FILE}`.

## Evaluation

Not evaluated yet: `python -m eval.run --model {output} ...` adds its metrics here.

## Citation

{paper[1] if paper else "See the rs-r1 README for the papers this project reproduces."}
"""
    path = output / CARD_FILE
    ModelCard(text).save(path)
    return path


_EVAL_SECTION_RE = re.compile(r"(## Evaluation\n)(.*?)(?=\n## |\Z)", re.DOTALL)


def add_eval_to_card(model_dir: str | os.PathLike, metrics: Mapping[str, Any], headlines: Mapping[str, str]) -> bool:
    """Write the paper-protocol headline metric of each evaluated task into the model card (metadata `model-index`
    and the Evaluation section). Only for a local checkpoint whose card rs-r1 wrote; returns whether it did."""
    from huggingface_hub import EvalResult, ModelCard

    path = Path(model_dir) / CARD_FILE
    if not path.is_file() or not os.access(path, os.W_OK):
        return False
    card = ModelCard.load(path)
    if "rs-r1" not in (card.data.tags or []):
        return False  # someone else's card: not ours to edit
    results, rows = [], []
    for key, result in sorted(metrics["tasks"].items()):
        name = headlines[key]
        value = result["paper"][name]
        rows.append(f"| {key} | {name} | {value:.4f} | {result['strict'][name]:.4f} | {result['samples']} |")
        results.append(
            EvalResult(
                task_type="image-text-to-text",
                dataset_type=key,
                dataset_name=key,
                metric_type=name,
                metric_value=round(float(value), 6),
                metric_name=f"{name} (paper protocol)",
            )
        )
    card.data.model_name = card.data.model_name or Path(model_dir).name
    card.data.eval_results = results
    table = "| task | metric | paper protocol | strict | samples |\n|---|---|---|---|---|\n" + "\n".join(rows)
    section = f"Scored by `eval.run` (data `{metrics.get('data_root')}`):\n\n{table}\n"
    body = card.text
    body = _EVAL_SECTION_RE.sub(lambda m: m.group(1) + "\n" + section, body, count=1)
    ModelCard(f"---\n{card.data.to_yaml()}\n---\n{body}").save(path)
    return True
