"""GeoVLM-R1's sequential RL: one GRPO stage per task, each starting from the previous stage's final checkpoint
(SPEC 4: "successively optimized ... for each task").

    python -m grpo.stages --config configs/grpo/geovlm_stages.yaml [--model_name_or_path M] [--data_root D]
        [--output_dir O] [--stages classification,vqa] [--any_grpo_field value ...]
    torchrun --nproc_per_node 4 -m grpo.stages --config configs/grpo/geovlm_stages.yaml ...

Every stage trains with the plan's one recipe (`recipe`: configs/grpo/geovlm_r1.yaml; a `{task}` in it is
replaced by the stage's task) on <data_root>/<task>.jsonl with images in <data_root>/images (a stage given as a task
name, or as `{task: T}`), or, for a stage given as `{task: T, shards: [...]}`, on those EarthDial shards under
<data_root> (format earthdial, every shard with task T). Options on top of the recipe, later ones winning: the plan's
`overrides` (what the plan changes for all its stages), the stage's own `overrides` (what differs for its task),
then the command line. Stage i writes <output_dir>/stages/<NN>_<task>/ and marks it done with `stage.json`. A
rerun skips finished stages and resumes the interrupted one from its newest checkpoint, so resuming works stage by
stage. The last stage's model and processor are copied to <output_dir>, which is then a loadable checkpoint. Every
unrecognised option goes to every stage (e.g. --max_steps 100, --report_to none).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.interrupt import command_line, run_interruptible
from common.noise import quiet_known_noise

logger = logging.getLogger(__name__)

DONE = "stage.json"
# What a saved stage holds besides checkpoints: the model (shards and index), its configs and the processor.
MODEL_FILE_SUFFIXES = (".safetensors", ".json", ".jinja", ".txt", ".model")
NOT_MODEL_FILES = ("trainer_state.json", DONE)


@dataclass(frozen=True)
class Stage:
    index: int
    task: str
    recipe: str
    output_dir: str
    shards: tuple[str, ...] = ()  # EarthDial shard folders relative to data_root; () = the JSONL layout
    overrides: tuple[str, ...] = ()  # the plan's options then this stage's own, before the command line's

    @property
    def done_marker(self) -> Path:
        return Path(self.output_dir) / DONE


STAGE_KEYS = ("task", "shards", "overrides")  # a stage written as a mapping; anything else is a typo


def _check_overrides(path: str, where: str, value: object) -> None:
    # Scalars only: YAML numbers and booleans become their text (`"1024"`, `True`); a list or mapping cannot be an
    # option value, and a string would be split into characters.
    if not isinstance(value, list) or not all(isinstance(item, (str, int, float)) for item in value):
        raise SystemExit(f"{path}: {where}'overrides' must be a list of options and values (strings or numbers)")


def load_plan(path: str) -> dict:
    try:
        plan = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"{path}: cannot read the stage plan ({error})") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("stages"), list) or not plan["stages"]:
        raise SystemExit(f"{path}: needs a non-empty 'stages' list of task names")
    for position, entry in enumerate(plan["stages"]):
        if not isinstance(entry, dict):
            continue  # a task name: a JSONL stage with no options of its own
        unknown = sorted(set(entry) - set(STAGE_KEYS))
        if unknown:
            raise SystemExit(f"{path}: stage {position}: unknown keys {unknown} (known: {', '.join(STAGE_KEYS)})")
        if not isinstance(entry.get("task"), str):
            raise SystemExit(f"{path}: stage {position}: needs 'task' (a string)")
        shards = entry.get("shards")  # absent: the JSONL layout
        if "shards" in entry and not (isinstance(shards, list) and shards and all(isinstance(s, str) for s in shards)):
            raise SystemExit(
                f"{path}: stage {position}: 'shards' must be a non-empty list of folders (leave it out for the JSONL "
                "layout)"
            )
        _check_overrides(path, f"stage {position}: ", entry.get("overrides") or [])
    _check_overrides(path, "", plan.get("overrides") or [])
    for key in ("recipe", "data_root", "output_dir", "model_name_or_path"):
        if not isinstance(plan.get(key), str):
            raise SystemExit(f"{path}: needs '{key}' (a string)")
    return plan


def plan_stages(plan: dict, output_dir: str, only: list[str] | None = None) -> list[Stage]:
    entries = [entry if isinstance(entry, dict) else {"task": str(entry)} for entry in plan["stages"]]
    tasks = [entry["task"] for entry in entries]
    unknown = sorted(set(only or ()) - set(tasks))
    if unknown:
        raise SystemExit(f"--stages {unknown} are not in the plan's stages {tasks}")
    stages = []
    for index, entry in enumerate(entries, start=1):
        task = entry["task"]
        if only and task not in only:
            continue
        recipe = plan["recipe"].format(task=task)
        if not os.path.isfile(recipe):
            raise SystemExit(f"stage {task}: no recipe {recipe}")
        folder = os.path.join(output_dir, "stages", f"{index:02d}_{task}")
        shards = tuple(str(shard) for shard in entry.get("shards", ()))
        options = [*(plan.get("overrides") or ()), *(entry.get("overrides") or ())]
        overrides = tuple(str(value) for value in options)
        stages.append(Stage(index, task, recipe, folder, shards, overrides))
    return stages


def data_root_files(data_root: str, task: str) -> tuple[str, str]:
    """GeoVLM layout, as eval reads it too: <root>/<task>.jsonl with images in <root>/images."""
    return os.path.join(data_root, f"{task}.jsonl"), os.path.join(data_root, "images")


def stage_argv(stage: Stage, model: str, data_root: str, overrides: list[str]) -> list[str]:
    if stage.shards:
        return [
            "--config", stage.recipe,
            "--model_name_or_path", model,
            "--dataset_name", ",".join(os.path.join(data_root, shard) for shard in stage.shards),
            "--dataset_format", "earthdial",
            "--dataset_tasks", stage.task,
            "--output_dir", stage.output_dir,
            *stage.overrides,
            *overrides,
        ]  # fmt: skip
    dataset, images = data_root_files(data_root, stage.task)
    return [
        "--config", stage.recipe,
        "--model_name_or_path", model,
        "--dataset_name", dataset,
        "--dataset_format", "jsonl",
        "--image_folder", images,
        "--dataset_tasks", stage.task,
        "--output_dir", stage.output_dir,
        *stage.overrides,
        *overrides,
    ]  # fmt: skip


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def copy_model(source: str, target: str) -> None:
    """The final stage's model files (not its checkpoints) into target."""
    os.makedirs(target, exist_ok=True)
    for entry in sorted(Path(source).iterdir()):
        if entry.is_file() and entry.suffix in MODEL_FILE_SUFFIXES and entry.name not in NOT_MODEL_FILES:
            shutil.copy2(entry, Path(target) / entry.name)


def run(plan_path: str, *, model: str | None, data_root: str | None, output_dir: str | None,
        only: list[str] | None, overrides: list[str]) -> str:  # fmt: skip
    # Imported here so `--help` and plan errors answer without loading torch and TRL.
    from grpo.train import parse_args, train

    plan = load_plan(plan_path)
    model = model or plan["model_name_or_path"]
    data_root = data_root or plan["data_root"]
    output_dir = output_dir or plan["output_dir"]
    stages = plan_stages(plan, output_dir, only)
    for position, stage in enumerate(stages):
        last = position == len(stages) - 1
        if stage.done_marker.is_file():
            logger.info("stage %d %s: done earlier (%s), skipped", stage.index, stage.task, stage.done_marker)
            model = stage.output_dir
            continue
        logger.info("stage %d/%d %s: from %s -> %s", position + 1, len(stages), stage.task, model, stage.output_dir)
        argv = stage_argv(stage, model, data_root, overrides)
        script_args, training_args, model_args = parse_args(argv)
        # The process group stays up between stages: every rank runs the same sequence of trainers.
        train(script_args, training_args, model_args, end=last, command=argv)
        if is_main_process():
            record = {"task": stage.task, "recipe": stage.recipe, "started_from": model, "index": stage.index}
            stage.done_marker.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        model = stage.output_dir
        gc.collect()
    if is_main_process():
        copy_model(model, output_dir)
        logger.info("final model (stage %s) copied to %s", stages[-1].task, output_dir)
    return output_dir


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", required=True, help="stage plan, e.g. configs/grpo/geovlm_stages.yaml")
    parser.add_argument("--model_name_or_path", help="start model of the first stage (default: the plan's)")
    parser.add_argument(
        "--data_root", help="folder with <task>.jsonl files and images/, or the EarthDial shards (default: the plan's)"
    )
    parser.add_argument("--output_dir", help="where stages/ and the final model go (default: the plan's)")
    parser.add_argument("--stages", help="comma-separated subset of the plan's tasks, in plan order")
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    only = [task.strip() for task in args.stages.split(",")] if args.stages else None
    from common.data import DataError  # deferred like grpo.train (run): --help stays fast
    from common.training import TrainingSetupError

    def run_plan() -> int:
        try:
            output = run(args.config, model=args.model_name_or_path, data_root=args.data_root,
                         output_dir=args.output_dir, only=only, overrides=overrides)  # fmt: skip
        except (DataError, TrainingSetupError) as error:
            logger.error("%s", error)
            return 1
        logger.info("GeoVLM-R1 stages finished: %s", output)
        return 0

    # A finished stage is marked by its stage.json and skipped; the stage under way resumes from its checkpoints.
    resume = "the same command skips the finished stages (stage.json) and resumes the current one from its checkpoint"
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_interruptible(run_plan, command=command_line("python -m grpo.stages", argv), next_run=lambda: resume)


if __name__ == "__main__":
    raise SystemExit(main())
