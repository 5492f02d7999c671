"""Padding waste of the paper's batching (random batches, as upstream) versus length-grouped batching
(`--train_sampling_strategy group_by_length`), on the synthetic VHM instruction mixture with the tiny model.

    python benchmarks/sft_padding.py [--size demo|small] [--batch-size 16] [--max-batches 12] [--seed 0]

Self-contained: builds the tiny model and the synthetic data in a temporary folder. For each batching it prints the
fraction of padded positions over one epoch (from the lengths measured before training, which equal the encoded
lengths: tests/sft/test_data.py) and the throughput in real (non-pad) tokens per second of forward + backward passes
of the tiny model over the first --max-batches batches. Last line: `pad_fraction <grouped> vs <naive>`.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import RandomSampler
from transformers.trainer_pt_utils import LengthGroupedSampler

from common.data import read_llava
from common.modeling import load_model, load_processor
from common.synthetic import generate
from common.tiny_model import build_tiny_model
from sft.data import SFTCollator, SFTDataset


def batches(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def pad_fraction(groups: list[list[int]], lengths: list[int]) -> float:
    padded = sum(max(lengths[i] for i in group) * len(group) for group in groups)
    return 1 - sum(lengths[i] for group in groups for i in group) / padded


def tokens_per_second(model, dataset: SFTDataset, collator: SFTCollator, groups: list[list[int]]) -> float:
    tokens, elapsed = 0, 0.0
    for group in groups:
        batch = collator([dataset[i] for i in group])
        start = time.perf_counter()
        model(**batch).loss.backward()
        elapsed += time.perf_counter() - start
        tokens += int(batch["attention_mask"].sum())
    model.zero_grad(set_to_none=True)
    return tokens / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="demo", choices=["small", "demo"], help="synthetic data size")
    parser.add_argument("--batch-size", type=int, default=16, help="per-device batch (the papers': 16)")
    parser.add_argument("--max-batches", type=int, default=12, help="batches timed per batching")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", seed=args.seed)
        data = generate(Path(tmp) / "data", seed=args.seed, size=args.size)
        folder = data / "vhm"
        processor = load_processor(model_dir)
        records = read_llava(folder / "list_sft_oversampled.json", folder).records
        dataset = SFTDataset(records, processor, max_length=None)
        lengths = dataset.lengths
        generator = torch.Generator().manual_seed(args.seed)
        schedules = {
            "naive": batches(list(RandomSampler(dataset, generator=generator)), args.batch_size),
            "grouped": batches(
                list(LengthGroupedSampler(args.batch_size, lengths=lengths, generator=generator)), args.batch_size
            ),
        }
        model = load_model(model_dir)
        model.train()
        collator = SFTCollator.from_processor(processor)
        print(f"VHM SFT mixture ({args.size}): {len(dataset)} records, tokens per record {min(lengths)}-{max(lengths)}")
        print(f"{'batching':<10}{'batches':>9}{'pad fraction':>15}{'real tokens/s':>16}")
        fractions = {}
        for name, groups in schedules.items():
            fractions[name] = pad_fraction(groups, lengths)
            speed = tokens_per_second(model, dataset, collator, groups[: args.max_batches])
            print(f"{name:<10}{len(groups):>9}{fractions[name]:>15.3f}{speed:>16.0f}")
        print(f"pad_fraction {fractions['grouped']:.3f} vs {fractions['naive']:.3f}")


if __name__ == "__main__":
    main()
