"""Reproduce a paper's released models: chain the stage recipes, on SLURM (default) or locally.

    python scripts/reproduce.py samchat --data-root DATA --output-root runs/samchat --dry-run
    python scripts/reproduce.py tinyrs  --data-root DATA --output-root runs/tinyrs            # sbatch, with afterok deps
    python scripts/reproduce.py geovlm  --data-root DATA --output-root runs/geovlm --local    # this node's GPUs

scripts/reproduce_{samchat,tinyrs,geovlm}.sh are thin wrappers around this file.

Each pipeline is a list of stages (a recipe plus the overrides that wire it to the data and to the previous stage's
checkpoint). A stage whose output is complete is skipped, so rerunning the same command resumes the pipeline; a stage
that was interrupted resumes from its latest checkpoint (the trainers look for `checkpoint-*` in output_dir).

DATA is where the Hub datasets were downloaded, one folder per dataset, named as on the Hub:
    huggingface-cli download --repo-type dataset aybora/SAMData-300-Train --local-dir DATA/SAMData-300-Train
(likewise SAMData-300-Test, VHM_VersaD, VHM_dataset_sft, VHM_dataset_grpo, scorers_datasets_eval). GeoVLM-R1's own
SFT data is not released: its SFT stage reads DATA/geovlm/{sft.json, images/} (SPEC 2.1); its GRPO stages read
EarthDial's training shards and its evaluation EarthDial-Bench, both from DATA/EarthDial-Dataset
(akshaydudhane/EarthDial-Dataset, docs/EARTHDIAL.md 2).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The interpreter that runs the stages: the repository's .venv when there is one (the shell wrappers and the sbatch
# scripts use it too), else this one (a conda env, say). A bare `torchrun` would exist only on an activated venv's PATH.
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.is_file() else sys.executable
BASE_MODEL = "Qwen/Qwen2-VL-2B-Instruct"

# Launchers per stage kind: the sbatch script (SLURM) and the local command prefix. Training stages run one process
# per GPU; evaluation runs one process (the hf backend batches, vLLM uses the GPU itself).
SBATCH = {
    "sft": "scripts/slurm/sft.sbatch",
    "grpo": "scripts/slurm/grpo.sbatch",
    "grpo_stages": "scripts/slurm/grpo.sbatch",
    "eval": "scripts/slurm/eval.sbatch",
}
MODULE = {"sft": "sft.train", "grpo": "grpo.train", "grpo_stages": "grpo.stages", "eval": "eval.run"}


@dataclass(frozen=True)
class Stage:
    """One step of a pipeline. `args` may use {data}, {out} and {stage:NAME} (that stage's output folder)."""

    name: str
    kind: str  # sft | grpo | grpo_stages | eval
    config: str | None  # recipe under configs/ (None for eval, which is configured by flags)
    args: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    notes: str = ""


def _eval(name: str, model_stage: str, tasks: str, data: str, *extra: str) -> Stage:
    return Stage(
        name=f"eval_{name}",
        kind="eval",
        config=None,
        args=(
            "--model", f"{{stage:{model_stage}}}",
            "--tasks", tasks,
            "--data-root", data,
            "--output-dir", f"{{out}}/eval/{name}",
            *extra,
        ),
        after=(model_stage,),
    )  # fmt: skip


SAMCHAT = [
    Stage("samchat_base", "sft", "configs/sft/samchat_base.yaml", (
        "--model_name_or_path", BASE_MODEL,
        "--data_path", "{data}/SAMData-300-Train/sam_300_inst.json",
        "--image_folder", "{data}/SAMData-300-Train",
    )),
    Stage("samchat_distill", "sft", "configs/sft/samchat_distill.yaml", (
        "--model_name_or_path", BASE_MODEL,
        "--data_path", "{data}/SAMData-300-Train/sam_300_reasoning_inst.json",
        "--image_folder", "{data}/SAMData-300-Train",
    )),
    # The GRPO imagefolder (images + metadata.jsonl with question / solution) is read with
    # load_dataset("imagefolder", data_dir=...) upstream; its location inside the Hub release is not documented,
    # so it is a flag of this script (--samdata-grpo) defaulting to DATA/SAMData-300-Train/grpo.
    Stage("samchat_zero", "grpo", "configs/grpo/samchat_zero.yaml", (
        "--model_name_or_path", BASE_MODEL,
        "--dataset_name", "{samdata_grpo}",
    )),
    Stage("samchat_r1", "grpo", "configs/grpo/samchat_r1.yaml", (
        "--model_name_or_path", "{stage:samchat_distill}",
        "--dataset_name", "{samdata_grpo}",
    ), after=("samchat_distill",)),
] + [
    _eval(name, name, "samdata", "{data}/SAMData-300-Test")
    for name in ("samchat_base", "samchat_distill", "samchat_zero")
] + [_eval("samchat_r1", "samchat_r1", "samdata", "{data}/SAMData-300-Test", "--paper-model", "samchat_r1")]  # fmt: skip

TINYRS = [
    Stage("tinyrs_pretrain", "sft", "configs/sft/tinyrs_pretrain.yaml", (
        "--model_name_or_path", BASE_MODEL,
        "--data_path", "{data}/VHM_VersaD/list_pretrain_corrected.json",
        "--image_folder", "{data}/VHM_VersaD",
    )),
    Stage("tinyrs_instruct", "sft", "configs/sft/tinyrs_instruct.yaml", (
        "--model_name_or_path", "{stage:tinyrs_pretrain}",
        "--data_path", "{data}/VHM_dataset_sft/list_sft_oversampled.json",
        "--image_folder", "{data}/VHM_dataset_sft",
    ), after=("tinyrs_pretrain",)),
    Stage("tinyrs_cot", "sft", "configs/sft/tinyrs_cot.yaml", (
        "--model_name_or_path", "{stage:tinyrs_instruct}",
        "--data_path", "{data}/VHM_dataset_sft/list_sft_reasoning_oversampled.json",
        "--image_folder", "{data}/VHM_dataset_sft",
    ), after=("tinyrs_instruct",)),
    Stage("tinyrs_r1", "grpo", "configs/grpo/tinyrs_r1.yaml", (
        "--model_name_or_path", "{stage:tinyrs_cot}",
        "--dataset_name", "{data}/VHM_dataset_grpo",
    ), after=("tinyrs_cot",), notes="needs OPENAI_API_KEY for open-ended rows, or --judge_policy skip"),
    # TinyRS (instant) answers without reasoning; TinyRS-CoT and TinyRS-R1 are evaluated in reasoning mode, all in
    # the TinyRS prompt style (SPEC 6.2: upstream picked it from the path; here it is explicit).
    Stage("eval_tinyrs_instruct", "eval", None, (
        "--model", "{stage:tinyrs_instruct}", "--tasks", "scorers", "--data-root", "{data}/scorers_datasets_eval",
        "--prompt-style", "tinyrs", "--output-dir", "{out}/eval/tinyrs_instruct",
    ), after=("tinyrs_instruct",)),
] + [
    Stage(f"eval_{name}", "eval", None, (
        "--model", f"{{stage:{name}}}", "--tasks", "scorers", "--data-root", "{data}/scorers_datasets_eval",
        "--prompt-style", "tinyrs", "--reasoning", "--output-dir", f"{{out}}/eval/{name}",
    ), after=(name,))
    for name in ("tinyrs_cot", "tinyrs_r1")
]  # fmt: skip

GEOVLM = [
    Stage("geovlm_sft", "sft", "configs/sft/geovlm_sft.yaml", (
        "--data_path", "{data}/geovlm/sft.json",
        "--image_folder", "{data}/geovlm/images",
    ), notes="GeoVLM-R1 base model is unconfirmed (likely Qwen2.5-VL-3B): the recipe states its choice"),
    # One GRPO stage per EarthDial task family over EarthDial's training shards (akshaydudhane/EarthDial-Dataset,
    # training_set/**), each from the previous stage's checkpoint (configs/grpo/geovlm_stages.yaml).
    Stage("geovlm_r1", "grpo_stages", "configs/grpo/geovlm_stages.yaml", (
        "--model_name_or_path", "{stage:geovlm_sft}",
        "--data_root", "{data}/EarthDial-Dataset",
    ), after=("geovlm_sft",)),
    Stage("eval_geovlm_r1", "eval", None, (
        # GeoVLM-R1 reports on EarthDial-Bench (docs/EARTHDIAL.md): the benchmark folder of the same Hub dataset.
        "--model", "{stage:geovlm_r1}", "--tasks", "earthdial",
        "--data-root", "{data}/EarthDial-Dataset/Eardial_downstream_task_datasets",
        "--reasoning", "--paper-model", "geovlm_r1", "--output-dir", "{out}/eval/geovlm_r1",
    ), after=("geovlm_r1",)),
]  # fmt: skip

PIPELINES: dict[str, list[Stage]] = {"samchat": SAMCHAT, "tinyrs": TINYRS, "geovlm": GEOVLM}


@dataclass
class Context:
    data: str
    out: str
    samdata_grpo: str
    overrides: dict[str, list[str]] = field(default_factory=dict)

    def stage_dir(self, name: str) -> str:
        return f"{self.out}/{name}"

    def expand(self, text: str) -> str:
        for name in _all_stage_names():
            text = text.replace(f"{{stage:{name}}}", self.stage_dir(name))
        return text.format(data=self.data, out=self.out, samdata_grpo=self.samdata_grpo)


def _all_stage_names() -> list[str]:
    return [s.name for stages in PIPELINES.values() for s in stages]


def stage_argv(stage: Stage, ctx: Context) -> list[str]:
    """The arguments after the module name: recipe, wiring overrides, the user's extra overrides, output folder."""
    argv = ["--config", stage.config] if stage.config else []
    argv += [ctx.expand(a) for a in stage.args]
    if stage.kind != "eval":
        argv += ["--output_dir", ctx.stage_dir(stage.name)]
    argv += ctx.overrides.get(stage.kind.split("_")[0], [])
    return argv


def local_command(stage: Stage, ctx: Context, gpus: int) -> list[str]:
    module = MODULE[stage.kind]
    if stage.kind == "eval" or gpus <= 1:
        return [PYTHON, "-m", module, *stage_argv(stage, ctx)]
    return [PYTHON, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", "-m", module, *stage_argv(stage, ctx)]


def sbatch_command(stage: Stage, ctx: Context, dependencies: list[str]) -> list[str]:
    cmd = ["sbatch", "--parsable", f"--job-name=rs-r1-{stage.name}", f"--output={ctx.out}/logs/%x-%j.out"]
    if dependencies:
        cmd.append("--dependency=afterok:" + ":".join(dependencies))
    return [*cmd, SBATCH[stage.kind], MODULE[stage.kind], *stage_argv(stage, ctx)]


def is_done(stage: Stage, ctx: Context) -> bool:
    """Complete = the final model (training) or metrics.json (evaluation) exists; checkpoints alone are not enough."""
    if stage.kind == "eval":
        return (Path(ctx.expand(stage.args[stage.args.index("--output-dir") + 1])) / "metrics.json").is_file()
    out = Path(ctx.stage_dir(stage.name))
    return (out / "config.json").is_file() and any(out.glob("*.safetensors"))


def plan(stages: list[Stage], only: set[str] | None) -> list[Stage]:
    names = {s.name for s in stages}
    unknown = (only or set()) - names
    if unknown:
        raise SystemExit(f"unknown stage(s) {sorted(unknown)}; this pipeline has: {', '.join(s.name for s in stages)}")
    return [s for s in stages if only is None or s.name in only]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", choices=sorted(PIPELINES))
    parser.add_argument("--data-root", required=True, help="folder holding the downloaded datasets (see above)")
    parser.add_argument("--output-root", required=True, help="one sub-folder per stage is created here")
    parser.add_argument("--samdata-grpo", help="SAMChat GRPO imagefolder (default DATA/SAMData-300-Train/grpo)")
    parser.add_argument("--local", action="store_true", help="run on this node instead of submitting to SLURM")
    parser.add_argument("--gpus", type=int, default=4, help="GPUs per node for --local training stages")
    parser.add_argument("--dry-run", action="store_true", help="print the exact commands and run nothing")
    parser.add_argument("--only", help="comma-separated stage names to run (others are assumed done or skipped)")
    for kind in ("sft", "grpo", "eval"):
        parser.add_argument(
            f"--{kind}-args", default="", help=f"extra arguments appended to every {kind} stage (quoted string)"
        )
    args = parser.parse_args(argv)
    # Paths are the caller's: resolved against the directory the command was typed in, before moving to the
    # repository (the recipes and launchers are named relative to it).
    data_root, output_root = os.path.abspath(args.data_root), os.path.abspath(args.output_root)
    if not args.dry_run and not os.path.isdir(data_root):
        parser.error(f"--data-root {args.data_root}: no such folder ({data_root})")

    ctx = Context(
        data=data_root,
        out=output_root,
        samdata_grpo=os.path.abspath(args.samdata_grpo) if args.samdata_grpo else f"{data_root}/SAMData-300-Train/grpo",
        overrides={k: shlex.split(getattr(args, f"{k}_args")) for k in ("sft", "grpo", "eval")},
    )
    only = set(args.only.split(",")) if args.only else None
    job_ids: dict[str, str] = {}
    os.chdir(REPO)
    for stage in plan(PIPELINES[args.pipeline], only):
        if not args.dry_run and is_done(stage, ctx):
            print(f"# {stage.name}: complete, skipped ({ctx.stage_dir(stage.name)})")
            continue
        if stage.notes:
            print(f"# {stage.name}: {stage.notes}")
        if args.local:
            cmd = local_command(stage, ctx, args.gpus)
            print(shlex.join(cmd), flush=True)
            if not args.dry_run:
                subprocess.run(cmd, check=True)
            continue
        deps = [job_ids[d] for d in stage.after if d in job_ids]
        cmd = sbatch_command(stage, ctx, deps)
        print(shlex.join(cmd), flush=True)
        if args.dry_run:
            job_ids[stage.name] = f"<{stage.name}>"
        else:
            Path(ctx.out, "logs").mkdir(parents=True, exist_ok=True)
            job_ids[stage.name] = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
