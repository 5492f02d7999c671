"""Reproduce a paper's released models: chain the stage recipes, on SLURM (default) or locally.

    python scripts/reproduce.py samchat --data-root DATA --output-root runs/samchat --dry-run
    python scripts/reproduce.py tinyrs  --data-root DATA --output-root runs/tinyrs            # sbatch, with afterok deps
    python scripts/reproduce.py geovlm  --data-root DATA --output-root runs/geovlm --local    # this node's GPUs

scripts/reproduce_{samchat,tinyrs,geovlm}.sh are thin wrappers around this file.

Seed sweeps: `--seeds 0,1,2` trains and evaluates the pipeline once per seed, in OUTPUT_ROOT/seed<N>/ (training
stages get `--seed N`; the recipes' own seed is 42, so `--seeds 42` is the paper's run), then writes one table over
the seeds, OUTPUT_ROOT/seeds.md (and seeds.json): per evaluation, task, metric and protocol the mean, min-max and
pooled 95% interval beside the paper's number (eval.seeds). On SLURM each stage is one job array whose task ids are
the seeds (`--array=0,1,2`; the sbatch scripts put the task id where the arguments say {seed}), each task waiting
for the same seed's task of the stages before it (`aftercorr`), and a last job writes the table once every array has
ended (`afterany`: seeds that failed are left out, and the table says how many seeds each figure has). With
`--local` the seeds run in turn. `--aggregate` only writes the table from the finished evaluations.

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
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field, replace
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
# Where a job array's task id (the seed) goes in a stage's arguments; the sbatch scripts replace it.
SEED_TOKEN = "{seed}"
SEEDS_TABLE = "seeds.md"


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
    seed: str | None = None  # a seed sweep's seed: a number, or SEED_TOKEN in a SLURM job array

    def stage_dir(self, name: str) -> str:
        return f"{self.out}/{name}"

    def expand(self, text: str) -> str:
        for name in _all_stage_names():
            # Escaped: a seed sweep's output root holds the literal {seed} that the job array fills in.
            text = text.replace(f"{{stage:{name}}}", self.stage_dir(name).replace("{", "{{").replace("}", "}}"))
        return text.format(data=self.data, out=self.out, samdata_grpo=self.samdata_grpo)


def _all_stage_names() -> list[str]:
    return [s.name for stages in PIPELINES.values() for s in stages]


def stage_argv(stage: Stage, ctx: Context) -> list[str]:
    """The arguments after the module name: recipe, wiring overrides, the user's extra overrides, output folder
    (and, in a seed sweep, the training seed)."""
    argv = ["--config", stage.config] if stage.config else []
    argv += [ctx.expand(a) for a in stage.args]
    if stage.kind != "eval":
        argv += ["--output_dir", ctx.stage_dir(stage.name)]
        if ctx.seed is not None:
            argv += ["--seed", ctx.seed]
    argv += ctx.overrides.get(stage.kind.split("_")[0], [])
    return argv


def local_command(stage: Stage, ctx: Context, gpus: int) -> list[str]:
    module = MODULE[stage.kind]
    if stage.kind == "eval" or gpus <= 1:
        return [PYTHON, "-m", module, *stage_argv(stage, ctx)]
    return [PYTHON, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", "-m", module, *stage_argv(stage, ctx)]


def sbatch_command(
    stage: Stage, ctx: Context, dependencies: list[str], seeds: list[int] | None = None, logs: str | None = None
) -> list[str]:
    """sbatch for one stage; with seeds, a job array over them whose tasks wait for the same seed's dependencies."""
    cmd = ["sbatch", "--parsable", f"--job-name=rs-r1-{stage.name}"]
    if seeds is None:
        cmd.append(f"--output={ctx.out}/logs/%x-%j.out")
    else:
        cmd += [f"--output={logs}/%x-%A_%a.out", "--array=" + ",".join(map(str, seeds))]
    if dependencies:
        cmd.append(f"--dependency={'afterok' if seeds is None else 'aftercorr'}:" + ":".join(dependencies))
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


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--seeds takes comma-separated non-negative integers, got {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds takes distinct non-negative integers (SLURM array ids), got {text!r}")
    return seeds


def seed_context(ctx: Context, root: str, seed: int | str) -> Context:
    return replace(ctx, out=f"{root}/seed{seed}", seed=str(seed))


def aggregate_seeds(pipeline: str, ctx: Context, root: str, seeds: list[int]) -> Path:
    """OUTPUT_ROOT/seeds.md and seeds.json: every evaluation stage's figures over the seeds that finished it."""
    if str(REPO) not in sys.path:  # run as a script: the project's packages are beside scripts/
        sys.path.insert(0, str(REPO))
    from eval import seeds as seed_stats

    sections, tables = [], {}
    for stage in (s for s in PIPELINES[pipeline] if s.kind == "eval"):
        per_seed, paper_model = {}, None
        for seed in seeds:
            path = Path(seed_context(ctx, root, seed).expand(stage.args[stage.args.index("--output-dir") + 1]))
            if (path / "metrics.json").is_file():
                per_seed[f"seed {seed}"] = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
                paper_model = per_seed[f"seed {seed}"].get("paper_model")
        if not per_seed:
            sections.append(f"## {stage.name}\n\nno seed has finished this evaluation.\n")
            continue
        rows = seed_stats.aggregate(per_seed, paper_model)
        tables[stage.name] = rows
        title = f"{stage.name} ({len(per_seed)} of {len(seeds)} seeds: {', '.join(per_seed)})"
        sections.append(seed_stats.markdown(rows, title))
    out = Path(root)
    out.mkdir(parents=True, exist_ok=True)
    header = f"# {pipeline}: figures over seeds {', '.join(map(str, seeds))}\n\n{seed_stats.EXPLANATION}\n\n"
    (out / SEEDS_TABLE).write_text(header + "\n".join(sections), encoding="utf-8")
    (out / "seeds.json").write_text(json.dumps(tables, indent=2), encoding="utf-8")
    return out / SEEDS_TABLE


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
    parser.add_argument("--seeds", help="comma-separated training seeds: one run each, then one table (see above)")
    parser.add_argument("--aggregate", action="store_true", help="with --seeds: only write the table over the seeds")
    for kind in ("sft", "grpo", "eval"):
        parser.add_argument(
            f"--{kind}-args", default="", help=f"extra arguments appended to every {kind} stage (quoted string)"
        )
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    if args.aggregate and seeds is None:
        parser.error("--aggregate needs --seeds")
    # Paths are the caller's: resolved against the directory the command was typed in, before moving to the
    # repository (the recipes and launchers are named relative to it).
    data_root, output_root = os.path.abspath(args.data_root), os.path.abspath(args.output_root)
    if not args.dry_run and not args.aggregate and not os.path.isdir(data_root):
        parser.error(f"--data-root {args.data_root}: no such folder ({data_root})")

    ctx = Context(
        data=data_root,
        out=output_root,
        samdata_grpo=os.path.abspath(args.samdata_grpo) if args.samdata_grpo else f"{data_root}/SAMData-300-Train/grpo",
        overrides={k: shlex.split(getattr(args, f"{k}_args")) for k in ("sft", "grpo", "eval")},
    )
    only = set(args.only.split(",")) if args.only else None
    os.chdir(REPO)
    stages = plan(PIPELINES[args.pipeline], only)
    if seeds is None:
        launch(stages, ctx, args)
        return 0
    if args.aggregate:
        print(f"# table over the seeds: {aggregate_seeds(args.pipeline, ctx, output_root, seeds)}")
        return 0
    if args.local:
        for seed in seeds:
            print(f"# seed {seed} -> {output_root}/seed{seed}", flush=True)
            launch(stages, seed_context(ctx, output_root, seed), args)
        if not args.dry_run:
            print(f"# table over the seeds: {aggregate_seeds(args.pipeline, ctx, output_root, seeds)}")
        return 0
    job_ids = launch(stages, seed_context(ctx, output_root, SEED_TOKEN), args, seeds=seeds, root=output_root)
    # The table, once every array has ended (afterany: a failed seed is left out, not a table never written).
    table = [PYTHON, "scripts/reproduce.py", args.pipeline, "--data-root", data_root, "--output-root", output_root,
             "--seeds", args.seeds, "--aggregate"]  # fmt: skip
    cmd = ["sbatch", "--parsable", f"--job-name=rs-r1-{args.pipeline}-seeds", f"--output={output_root}/logs/%x-%j.out"]
    if job_ids:
        cmd.append("--dependency=afterany:" + ":".join(job_ids.values()))
    submit([*cmd, f"--wrap={shlex.join(table)}"], args.dry_run, output_root, "<seeds table>")
    return 0


def submit(cmd: list[str], dry_run: bool, root: str, placeholder: str) -> str:
    """Print an sbatch command and submit it (dry run: nothing); returns its job id."""
    print(shlex.join(cmd), flush=True)
    if dry_run:
        return placeholder
    Path(root, "logs").mkdir(parents=True, exist_ok=True)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def launch(
    stages: list[Stage], ctx: Context, args: argparse.Namespace, seeds: list[int] | None = None, root: str = ""
) -> dict[str, str]:
    """Run (--local) or submit the stages that are not complete; returns the SLURM job ids by stage."""
    job_ids: dict[str, str] = {}
    for stage in stages:
        # A seed sweep on SLURM: one array task per seed this stage is not complete for.
        todo = seeds and [seed for seed in seeds if args.dry_run or not is_done(stage, seed_context(ctx, root, seed))]
        if not args.dry_run and (is_done(stage, ctx) if seeds is None else not todo):
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
        cmd = sbatch_command(stage, ctx, deps, todo or None, f"{root}/logs")
        job_ids[stage.name] = submit(cmd, args.dry_run, ctx.out if seeds is None else root, f"<{stage.name}>")
    return job_ids


if __name__ == "__main__":
    raise SystemExit(main())
