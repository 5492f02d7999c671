"""Merge a LoRA / DoRA adapter (with its fully trained modules, e.g. the merger) into its base model and save a full
checkpoint with the processor, loadable like any other (eval, GRPO, from_pretrained).

    python -m sft.merge_lora --adapter outputs/sft_lora --output outputs/sft_lora_merged [--base MODEL] [--dtype D]

The base defaults to the one recorded in the adapter's adapter_config.json; the processor is the adapter folder's
(saved by training, with its pixel limits), else the base model's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from common.modeling import DTYPES, load_model, load_processor
from common.noise import quiet_known_noise

logger = logging.getLogger(__name__)


def base_model_of(adapter_dir: str | Path) -> str:
    config_path = Path(adapter_dir) / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{config_path}: not a PEFT adapter folder ({error})") from None
    base = config.get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config_path}: no base_model_name_or_path; pass --base")
    return base


def merge(adapter_dir: str | Path, output_dir: str | Path, *, base: str | None = None, dtype: str = "auto") -> Path:
    from peft import PeftModel

    base = base or base_model_of(adapter_dir)
    model = load_model(base, dtype=dtype, attn_implementation="sdpa")
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    has_processor = (Path(adapter_dir) / "processor_config.json").exists()
    load_processor(adapter_dir if has_processor else base).save_pretrained(output_dir)
    logger.info("merged %s into %s -> %s", adapter_dir, base, output_dir)
    return output_dir


def main(argv: list[str] | None = None) -> int:
    quiet_known_noise()
    parser = argparse.ArgumentParser(prog="python -m sft.merge_lora", description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", required=True, help="folder with adapter_config.json (an SFT output_dir)")
    parser.add_argument("--output", required=True, help="folder for the merged full checkpoint")
    parser.add_argument("--base", help="base model (default: the adapter's base_model_name_or_path)")
    parser.add_argument("--dtype", default="auto", choices=["auto", *DTYPES], help="dtype of the merged weights")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        output = merge(args.adapter, args.output, base=args.base, dtype=args.dtype)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    print(output)  # noqa: T201 - CLI output: the merged checkpoint
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
