"""GRPO of Qwen2-VL / Qwen2.5-VL with the stock `trl.GRPOTrainer` and this project's rewards: SAMChat-Zero,
SAMChat-R1, TinyRS-R1 and GeoVLM-R1's per-task stages (SPEC 4, 5).

    python -m grpo.train --config configs/grpo/RECIPE.yaml [--field value ...]
    python -m grpo.train --config configs/grpo/RECIPE.yaml --print-config   # the resolved configuration, no model
    torchrun --nproc_per_node 4 -m grpo.train --config configs/grpo/samchat_r1.yaml ...    # the paper's setup
    sbatch scripts/slurm/grpo.sbatch samchat_r1 [--field value ...]                          # SLURM

parse (YAML + CLI) -> processor with the pixel limits -> read and validate the data -> judge (only when open-ended
rows exist) -> rewards from the registry -> model (freeze flags as in SFT, LoRA through TRL's ModelConfig names) ->
trl.GRPOTrainer (ResumableGRPOTrainer: resume, data order, autocast, judge counts) -> train, resuming from the newest checkpoint in output_dir -> save model + processor.

What researchers watch for reward hacking is logged beside TRL's own metrics: `rewards/<name>/mean` and `/std`
per reward, `frac_reward_zero_std` (groups whose G completions scored alike: no learning signal),
`completions/mean_length` (and min / max / clipped ratio), for SAMChat `samchat/all_keywords_frac` (completions
naming every keyword at once), `shadow/<reward>/strict_gap` beside rewards with a strict counterpart
(grpo.rewards.shadow), the judge's call / cache / failure counts, and with `--val_task` the benchmark's own scores of
a held-out slice every eval_steps, `val/<task>/<metric>` (grpo.validation).
"""

from __future__ import annotations

import copy
import logging
import re
import sys
from typing import Any

import torch
import yaml
from trl import GRPOTrainer, get_peft_config
from trl.trainer.utils import RepeatSampler

from common.cli import RecipeParser, launch_forms, run_stage
from common.data import DataError
from common.flag_aliases import PAPER_GRPO_ALIASES
from common.interrupt import command_line
from common.modeling import (
    load_model,
    load_processor,
    merger,
    model_dtype,
    module_name,
    set_trainable,
    vision_tower,
)
from common.noise import quiet_known_noise
from common.provenance import RunInfo
from common.provenance import resolved_config as provenance_config
from common.training import (
    FullCheckpointResume,
    init_deepspeed_backend,
    keep_fp32_master_weights,
    prepare_run,
    setup_logging,
    train_and_save,
)
from grpo.configs import GRPOConfig, GRPOModelArguments, GRPOScriptArguments
from grpo.data import build_dataset
from grpo.judge import Judge, MissingKeyError
from grpo.rewards import build_reward_funcs, unscored_tasks
from grpo.validation import add_validation, load_slice
from grpo.vllm_server import vllm_server_errors

logger = logging.getLogger(__name__)


class EpochSeededRepeatSampler(RepeatSampler):
    """TRL's RepeatSampler, with the shuffle of each epoch seeded by (seed, epoch).

    The stock sampler draws every epoch's permutation from one generator seeded once, and has no `set_epoch`, so a
    run resumed in epoch k restarts that generator and replays epoch 0's order: resuming is exact only within the
    first epoch (measured: weights differ by 1e-4 after resuming across an epoch boundary). The Trainer calls
    `set_epoch` at the start of every epoch, resumed or not, so both runs see the same order.
    """

    def set_epoch(self, epoch: int) -> None:
        if self.shuffle and self.seed is not None:
            self.generator.manual_seed(self.seed + epoch)


class ResumableGRPOTrainer(FullCheckpointResume, GRPOTrainer):
    """trl.GRPOTrainer (named apart from it: this is a subclass, not TRL's class) with four gaps filled: resuming a full Qwen2-VL checkpoint (common.training), resuming
    across epochs with the same data order (EpochSeededRepeatSampler), generation under autocast when float32
    master weights sit beside bf16 ones, and the judge's counts (calls, cached, retries, failures, garbage) per
    step, summed over ranks, among TRL's metrics. TRL's `log_metric` callback averages over ranks, and the judge is
    shared by the reward functions rather than owned by one of them."""

    judge: Judge | None = None
    # Set when common.training.keep_fp32_master_weights cast trainable bf16 / fp16 weights to float32.
    autocast_generation: bool = False

    def _generate_single_turn(self, *args, **kwargs):
        # TRL generates outside autocast (it autocasts only the training forward). With float32 master weights
        # beside frozen bf16 modules (a fully trained merger after a bf16 vision tower) that forward mixes dtypes
        # and fails, so generation runs under the same autocast as training: bf16 compute, as before the cast.
        if not self.autocast_generation:
            return super()._generate_single_turn(*args, **kwargs)
        with self.accelerator.autocast():
            return super()._generate_single_turn(*args, **kwargs)

    def _get_train_sampler(self, dataset=None):
        sampler = super()._get_train_sampler(dataset)
        if type(sampler) is not RepeatSampler:  # a TRL version with another sampler: leave it, but say so
            logger.warning("train sampler %s kept as is: resuming may change the data order", type(sampler).__name__)
            return sampler
        return EpochSeededRepeatSampler(
            data_source=sampler.data_source,
            mini_repeat_count=sampler.mini_repeat_count,
            batch_size=sampler.batch_size,
            repeat_count=sampler.repeat_count,
            shuffle=sampler.shuffle,
            seed=sampler.seed,
        )

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if self.judge is None:
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        before = self.judge.counts
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        after = self.judge.counts
        names = sorted(after)
        # This step's counts of every rank, summed (every rank reaches this point once per generation step, so the
        # gather is collective), into TRL's metric lists: `log` averages them over the logging window like `kl`.
        local = torch.tensor([after[n] - before[n] for n in names], dtype=torch.float32, device=self.accelerator.device)
        total = self.accelerator.gather(local).view(-1, len(names)).sum(dim=0).tolist()
        mode = "train" if self.model.training else "eval"
        for name, value in zip(names, total):
            self._metrics[mode][f"judge/{name}"].append(value)
        return rewards


def build_model(model_args: GRPOModelArguments, training_args: GRPOConfig) -> tuple[Any, Any]:
    """(model, peft_config). Full fine-tuning: freeze_vision_tower, tune_merger and freeze_llm as in SFT
    (common.modeling.set_trainable; upstream's GRPO trainer froze nothing, and the defaults train every weight).
    LoRA (use_peft): TRL's, adapters on model_args.lora_target_modules, never on the frozen part of the vision tower.

    freeze_vision_tower means what it means in SFT (upstream's SFT `configure_vision_tower`): the vision encoder
    without its merger, which tune_merger governs."""
    model = load_model(
        model_args.model_name_or_path,
        dtype=model_dtype(model_args, training_args),
        attn_implementation=model_args.attn_implementation,
        trust_remote_code=training_args.trust_remote_code,
    )
    peft_config = get_peft_config(model_args)
    if peft_config is None:
        set_trainable(model, model_args)
    elif model_args.freeze_vision_tower:
        tower = vision_tower(model)
        prefix, merger_prefix = module_name(model, tower), module_name(model, merger(model))
        merger_name = re.escape(merger_prefix[len(prefix) + 1 :])
        # Every module under the tower except the merger and its children (PEFT full-matches the regex).
        peft_config.exclude_modules = rf"{re.escape(prefix)}\.(?!{merger_name}(?:\.|$)).*"
    return model, peft_config


def train(
    script_args: GRPOScriptArguments,
    training_args: GRPOConfig,
    model_args: GRPOModelArguments,
    *,
    end: bool = True,
    command: list[str] | None = None,
) -> str:
    """Trains and saves to output_dir; end=False leaves the process group up for a following stage; `command` (the
    parsed arguments) goes into the run record."""
    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path is required")
    # Where the run writes is checked first: an unwritable output_dir would otherwise surface at the first save.
    prepare_run(training_args)
    # Generation pads on the left, so every prompt ends where its completion starts.
    processor = load_processor(
        model_args.model_name_or_path,
        min_pixels=script_args.image_min_pixels,
        max_pixels=script_args.image_max_pixels,
        padding_side="left",
        trust_remote_code=training_args.trust_remote_code,
    )
    # The data is validated before the model loads: a bad record costs seconds, not a GPU allocation.
    data = build_dataset(script_args, processor)
    unscored = unscored_tasks(script_args.reward_funcs, data.rule_tasks)
    if unscored:  # refused here, before the model loads, rather than trained on the format reward alone
        raise DataError(script_args.dataset_name, None, unscored)
    judge = Judge.from_config(script_args.judge_config(training_args.output_dir), needs_judge=data.has_open_ended)
    reward_funcs = build_reward_funcs(script_args.reward_funcs, script_args.reward_options(), judge)
    validation = load_slice(script_args, training_args.max_completion_length)
    init_deepspeed_backend(training_args)
    model, peft_config = build_model(model_args, training_args)
    with vllm_server_errors(training_args, "start"):  # server mode: TRL connects to the server here
        trainer = ResumableGRPOTrainer(
            model=model,
            reward_funcs=reward_funcs,
            args=training_args,
            train_dataset=data.dataset,
            processing_class=processor,
            peft_config=peft_config,
        )
    trainer.judge = judge
    add_validation(trainer, validation)
    # After the trainer: it applies peft_config (and the adapters' modules_to_save) to the model; the optimizer is
    # only built in train(), so it sees the float32 tensors.
    trainer.autocast_generation = keep_fp32_master_weights(trainer.model, training_args) > 0
    run = RunInfo(
        stage="grpo",
        groups={"script": script_args, "model": model_args, "training": training_args},
        base_model=model_args.model_name_or_path,
        data=[*script_args.dataset_files, *script_args.image_folders],
        records=len(data.dataset),
        command=command,
    )
    with vllm_server_errors(training_args, "training"):
        output = train_and_save(trainer, training_args, end=end, run=run)
    if judge is not None:
        logger.info("judge counts: %s", judge.counts)
    return output


# What decides the GRPO step beyond the data (SPEC 4, 7.13-7.18): printed first by --print-config.
OBJECTIVE_FIELDS = (
    "loss_type", "beta", "use_bias_correction_kl", "scale_rewards", "multi_objective_aggregation", "reward_weights",
    "num_generations", "num_iterations", "epsilon", "epsilon_high", "delta", "importance_sampling_level",
    "mask_truncated_completions", "top_entropy_quantile", "entropy_coef", "off_policy_mask_threshold",
    "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "max_completion_length", "generation_kwargs",
    "use_vllm", "vllm_importance_sampling_correction", "vllm_importance_sampling_mode",
    "per_device_train_batch_size", "gradient_accumulation_steps", "steps_per_generation", "generation_batch_size",
    "learning_rate", "lr_scheduler_type", "warmup_steps", "optim", "adam_beta1", "adam_beta2", "adam_epsilon",
    "weight_decay", "max_grad_norm", "seed",
)  # fmt: skip


def build_parser() -> RecipeParser:
    """The GRPO recipe parser; it accepts the GRPO paper commands' few other names (PAPER_GRPO_ALIASES)."""
    return RecipeParser(
        (GRPOScriptArguments, GRPOConfig, GRPOModelArguments),
        prog="python -m grpo.train",
        aliases=PAPER_GRPO_ALIASES,
        description=launch_forms(__doc__),
    )


def resolved_config(
    script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: GRPOModelArguments
) -> dict[str, dict[str, Any]]:
    """The configuration a run would use, as plain values (secrets hidden): the objective settings, then each
    argument group as the run record stores it."""
    config = provenance_config({"script": script_args, "training": training_args, "model": model_args})
    # A copy, so that YAML prints no anchors for lists the objective shares with the training group.
    objective = copy.deepcopy({name: config["training"][name] for name in OBJECTIVE_FIELDS})
    return {"objective": objective, **config}


def parse_args(argv: list[str] | None = None) -> tuple[GRPOScriptArguments, GRPOConfig, GRPOModelArguments]:
    """Parse and log the alias mapping at once (grpo.stages has set up logging by then)."""
    parser = build_parser()
    parsed = parser.parse_args_and_config(argv)
    parser.log_aliases()
    return parsed


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    script_args, training_args, model_args = parser.parse_args_and_config(argv)
    if parser.print_config:
        config = yaml.safe_dump(resolved_config(script_args, training_args, model_args), sort_keys=False)
        print(config, end="")  # noqa: T201 - CLI output
        return 0
    setup_logging(training_args)
    parser.log_aliases()
    return run_stage(
        lambda: train(script_args, training_args, model_args, command=argv),
        user_errors=(MissingKeyError,),
        training_args=training_args,
        command=command_line(parser.prog, argv),
    )


if __name__ == "__main__":
    raise SystemExit(main())
