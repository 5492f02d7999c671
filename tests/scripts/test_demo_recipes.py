"""The demo recipes are the paper recipes shrunk: field by field, configs/grpo/demo.yaml differs from samchat_r1.yaml
and configs/sft/demo.yaml from samchat_distill.yaml only where a field is listed below, each list saying why.

Fields are compared as the trainers resolve them (a field one file leaves out takes the parser's default), over
every field either file sets."""

import dataclasses

import pytest
import yaml
from trl import TrlParser

from grpo.train import parse_args as parse_grpo
from sft.configs import DataArguments, SFTModelArguments, SFTTrainingArguments

# Shared by both stages. Paths: where the demo keeps its model, data and outputs.
PATHS = {"model_name_or_path", "output_dir", "data_path", "image_folder", "dataset_name"}
# The CPU instead of a GPU cluster: precision, attention kernel, memory savers, DeepSpeed, loader workers.
PLATFORM = {
    "use_cpu",
    "bf16",
    "tf32",
    "dtype",
    "attn_implementation",
    "gradient_checkpointing",
    "use_liger_kernel",
    "deepspeed",
    "dataloader_num_workers",
}
# Step counts: how long, how often to log and save, how many checkpoints to keep; the seed (the demo's DEMO_SEED).
STEPS = {"num_train_epochs", "max_steps", "logging_steps", "save_steps", "save_total_limit", "seed"}
# Logging backend: no wandb account offline; completions are not logged on the demo's 640 rollouts.
LOGGING = {"report_to", "log_completions"}

GRPO_ALLOWED = {
    # Sizes: completions (the tiny model's reply is ~110 tokens), image pixels (the tiny processor's own 56-112 px),
    # completions per device (the paper's step, 4 GPUs x 1 prompt x G = 4, on one CPU process: 4 prompts x G = 4).
    "max_completion_length",
    "image_min_pixels",
    "image_max_pixels",
    "per_device_train_batch_size",
    # Rates: a random 0.2M-parameter model needs a far larger step than a pretrained 2B one.
    "learning_rate",
    *PATHS,
    *PLATFORM,
    *STEPS,
    *LOGGING,
}

SFT_ALLOWED = {
    # Sizes: sequence and image sizes of the tiny model, the batch (8 records, no accumulation, on 2 cores).
    "max_length",
    "image_min_pixels",
    "image_max_pixels",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    # Rates: learning rates of the three parameter groups, weight decay, warm-up share.
    "learning_rate",
    "merger_lr",
    "vision_lr",
    "weight_decay",
    "warmup_steps",
    *PATHS,
    *PLATFORM,
    *STEPS,
    *LOGGING,
}

# bf16 / tf32 need a GPU, and TRL checks at parse time that a GRPO batch holds whole groups: parsing adapts both on
# CPU; the files' own values of these fields are compared as written.
GRPO_CPU = ["--bf16", "false", "--use_cpu", "true", "--per_device_train_batch_size", "4"]
SFT_CPU = ["--bf16", "false", "--tf32", "false"]


def _resolved(groups) -> dict:
    fields = {}
    for group in groups:
        fields.update({f.name: getattr(group, f.name) for f in dataclasses.fields(group)})
    return fields


def _differences(repo_root, stage: str, demo: str, paper: str, parse, cpu: list[str]) -> dict[str, tuple]:
    files = {name: repo_root / "configs" / stage / f"{name}.yaml" for name in (demo, paper)}
    raw = {name: yaml.safe_load(path.read_text()) for name, path in files.items()}
    resolved = {name: _resolved(parse(["--config", str(path), *cpu])) for name, path in files.items()}
    differ = {}
    for field in sorted(set(raw[demo]) | set(raw[paper])):
        adapted = any(arg == f"--{field}" for arg in cpu)
        values = [
            raw[name].get(field, resolved[name][field]) if adapted else resolved[name][field] for name in (demo, paper)
        ]
        if values[0] != values[1]:
            differ[field] = tuple(values)
    return differ


def test_demo_grpo_is_samchat_r1_in_sizes_rates_and_steps_only(repo_root):
    differ = _differences(repo_root, "grpo", "demo", "samchat_r1", parse_grpo, GRPO_CPU)
    assert set(differ) <= GRPO_ALLOWED, {f: v for f, v in differ.items() if f not in GRPO_ALLOWED}
    # The same prompt (the paper's: neither file overrides the SAMChat imagefolder's), rewards and GRPO loss.
    script, training, _ = parse_grpo(["--config", str(repo_root / "configs/grpo/demo.yaml"), *GRPO_CPU])
    assert script.system_prompt is None and script.question_template is None
    assert training.loss_type == "grpo" and training.beta == 0.001 and training.top_k == 50
    assert differ["learning_rate"] == (1e-4, 1e-6)


def test_demo_sft_is_samchat_distill_in_sizes_rates_and_steps_only(repo_root):
    def parse(args):
        return TrlParser((DataArguments, SFTModelArguments, SFTTrainingArguments)).parse_args_and_config(args)

    differ = _differences(repo_root, "sft", "demo", "samchat_distill", parse, SFT_CPU)
    assert set(differ) <= SFT_ALLOWED, {f: v for f, v in differ.items() if f not in SFT_ALLOWED}


@pytest.mark.parametrize("allowed", [GRPO_ALLOWED, SFT_ALLOWED])
def test_no_prompt_reward_or_loss_field_may_differ(allowed):
    # What the demo must show working as the paper sets it.
    protected = {"system_prompt", "question_template", "prompt_template", "reward_funcs", "reward_weights"}
    protected |= {"loss_type", "beta", "num_generations", "temperature", "lr_scheduler_type", "optim"}
    assert not allowed & protected
