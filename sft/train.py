"""Supervised fine-tuning of Qwen2-VL / Qwen2.5-VL on LLaVA-style data: SAMChat-Base / -Distill, TinyRS-PRETRAIN,
TinyRS, TinyRS-CoT and GeoVLM-R1's SFT stage (SPEC 1, 3).

    python -m sft.train --config configs/sft/RECIPE.yaml [--field value ...]
    python -m sft.train --config configs/sft/RECIPE.yaml --print-config                 # the resolved settings only
    deepspeed --num_gpus 4 -m sft.train --config configs/sft/samchat_distill.yaml     # the paper's setup
    torchrun --nproc_per_node N -m sft.train --config ...                             # DDP

parse (YAML + CLI) -> processor with the pixel limits -> validate and measure the data -> model with the trainable
flags / LoRA -> transformers' Trainer (+ per-module learning rates: sft.trainer.PerModuleLRTrainer) -> train, resuming from the newest checkpoint in
output_dir -> save model + processor.
"""

from __future__ import annotations

import logging
import sys

from common.cli import RecipeParser, config_yaml, launch_forms, run_stage
from common.flag_aliases import PAPER_SFT_ALIASES
from common.interrupt import command_line
from common.noise import quiet_known_noise
from common.provenance import RunInfo
from common.training import init_deepspeed_backend, keep_fp32_master_weights, prepare_run, setup_logging, train_and_save
from sft.configs import DataArguments, SFTModelArguments, SFTTrainingArguments
from sft.data import SFTCollator, build_dataset, load_sft_processor
from sft.modeling import build_model, trainable_summary
from sft.trainer import PerModuleLRTrainer

logger = logging.getLogger(__name__)


def train(
    data_args: DataArguments,
    model_args: SFTModelArguments,
    training_args: SFTTrainingArguments,
    *,
    command: list[str] | None = None,
) -> str:
    """Trains and saves to output_dir; `command` (the parsed arguments) goes into the run record."""
    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path is required")
    # Where the run writes is checked first: an unwritable output_dir would otherwise surface at the first save.
    prepare_run(training_args)
    processor = load_sft_processor(data_args, model_args)
    # The data is validated and measured before the model loads: a bad record costs seconds, not a GPU allocation.
    dataset = build_dataset(data_args, processor)
    logger.info("%d training records (%d tokens)", len(dataset), sum(dataset.lengths))
    # Every rank must run the vision tower in every step (ZeRO-3 gathers its weights collectively). Reading
    # world_size also sets up the process group, which ZeRO-3 needs before the weights load (zero.Init partitions
    # them over the ranks while loading).
    init_deepspeed_backend(training_args)
    collator = SFTCollator.from_processor(
        processor, vision_pass_for_text_only=training_args.world_size > 1, padding_free=training_args.padding_free
    )
    model = build_model(model_args, training_args)
    keep_fp32_master_weights(model, training_args)
    logger.info("trainable parameters per part: %s", trainable_summary(model))
    trainer = PerModuleLRTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
    )
    run = RunInfo(
        stage="sft",
        groups={"data": data_args, "model": model_args, "training": training_args},
        base_model=model_args.model_name_or_path,
        data=[data_args.data_path, data_args.image_folder],
        records=len(dataset),
        command=command,
    )
    return train_and_save(trainer, training_args, run=run)


def build_parser() -> RecipeParser:
    """The SFT recipe parser; it accepts the SFT papers' 2U1 flag names (common.model_args.PAPER_SFT_ALIASES)."""
    return RecipeParser(
        (DataArguments, SFTModelArguments, SFTTrainingArguments),
        prog="python -m sft.train",
        aliases=PAPER_SFT_ALIASES,
        description=launch_forms(__doc__),
    )


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    data_args, model_args, training_args = parser.parse_args_and_config(argv)
    if parser.print_config:
        print(config_yaml({"data": data_args, "model": model_args, "training": training_args}), end="")  # noqa: T201 - CLI output
        return 0
    setup_logging(training_args)
    parser.log_aliases()
    return run_stage(
        lambda: train(data_args, model_args, training_args, command=argv),
        training_args=training_args,
        command=command_line(parser.prog, argv),
    )


if __name__ == "__main__":
    raise SystemExit(main())
