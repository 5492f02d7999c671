"""Padding waste and throughput of SFT batching on the synthetic VHM instruction mixture: random batches (the
paper's, as upstream), length-grouped batches (`--train_sampling_strategy group_by_length`) and padding-free
batches (`--padding_free true`: each batch one row, no padding).

    python benchmarks/sft_padding.py [--model tiny|twin] [--size demo|small] [--batch-size 16] [--max-batches 12]
        [--min-pixels 401408 --max-pixels 1003520] [--seed 0]
    flock /tmp/rs_r1_heavy.lock python benchmarks/sft_padding.py --model twin --batch-size 8 --max-batches 1 \\
        --min-pixels 50176 --max-pixels 50176     # the 2B twin on 2 CPU cores: a few minutes

Self-contained: builds the model (benchmarks/_models.py) and the synthetic data in a temporary folder. Images are
resized within the paper's pixel limits (512*28*28 to 1280*28*28) unless --min-pixels / --max-pixels say otherwise.
For each batching it prints the fraction of padded positions over one epoch (from the lengths measured before
training, which equal the encoded lengths: tests/sft/test_data.py) and the throughput in real (non-pad) tokens per
second (wall clock and CPU time) of forward + backward passes over the first --max-batches batches, the batchings
taking turns (padding-free runs the random batches, packed, one causal sdpa call per sample:
sft.modeling.sdpa_varlen_attention). The vision tower is frozen here (it sees the same patches under every
batching; its backward would only add the same cost to all three and ~4 GB to the twin's peak). Then the loss of
the first random batch padded and packed (fp32 on the tiny model: equal to 1e-5).
Last line: `pad_fraction <padding-free> vs <grouped> vs <random>`.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch
from _models import add_model_arguments, model_dtype, prepare_model
from torch.utils.data import RandomSampler
from transformers.trainer_pt_utils import LengthGroupedSampler

from common.data import read_llava
from common.modeling import load_model, load_processor, vision_tower
from offline.synthetic import generate
from sft.data import SFTCollator, SFTDataset, padding_free_inputs, rope_index_of
from sft.modeling import register_sdpa_varlen

# The paper's image pixel limits (configs/sft/*.yaml).
PAPER_MIN_PIXELS, PAPER_MAX_PIXELS = 512 * 28 * 28, 1280 * 28 * 28


def batches(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def pad_fraction(groups: list[list[int]], lengths: list[int], packed: bool = False) -> float:
    real = sum(lengths[i] for group in groups for i in group)
    positions = real if packed else sum(max(lengths[i] for i in group) * len(group) for group in groups)
    return 1 - real / positions


def model_inputs(model, collator: SFTCollator, items: list[dict]) -> tuple[dict, int]:
    """The model's keyword arguments and the number of real tokens."""
    batch = collator(items)
    if collator.padding_free:
        return padding_free_inputs(rope_index_of(model), batch), int(batch["seq_lengths"].sum())
    return batch, int(batch["attention_mask"].sum())


def throughput(model, dataset: SFTDataset, processor, schedules: dict, max_batches: int) -> dict[str, tuple]:
    """Real tokens per wall-clock second and per CPU second of each batching. The batchings take turns batch by
    batch (random 0, grouped 0, padding-free 0, random 1, ...), so load from other processes on a shared machine
    falls on all of them alike; CPU seconds (this process's) are the less load-sensitive figure."""
    totals = {name: [0, 0.0, 0.0] for name in schedules}
    collators = {
        name: SFTCollator.from_processor(processor, padding_free=packed) for name, (_, packed) in schedules.items()
    }
    for index in range(max_batches):
        for name, (groups, _) in schedules.items():
            if index >= len(groups):
                continue
            inputs, real = model_inputs(model, collators[name], [dataset[i] for i in groups[index]])
            wall, cpu = time.perf_counter(), time.process_time()
            model(**inputs).loss.backward()
            totals[name][1] += time.perf_counter() - wall
            totals[name][2] += time.process_time() - cpu
            totals[name][0] += real
            model.zero_grad(set_to_none=True)
    return {name: (tokens / wall, tokens / cpu) for name, (tokens, wall, cpu) in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--size", default="demo", choices=["small", "demo"], help="synthetic data size")
    parser.add_argument("--batch-size", type=int, default=16, help="per-device batch (the papers': 16)")
    parser.add_argument("--max-batches", type=int, default=12, help="batches timed per batching")
    parser.add_argument("--min-pixels", type=int, default=PAPER_MIN_PIXELS, help="image min pixels (paper's)")
    parser.add_argument("--max-pixels", type=int, default=PAPER_MAX_PIXELS, help="image max pixels (paper's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    dtype = model_dtype(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = prepare_model(args, Path(tmp))
        data = generate(Path(tmp) / "data", seed=args.seed, size=args.size)
        folder = data / "vhm"
        processor = load_processor(
            model_dir, min_pixels=args.min_pixels, max_pixels=args.max_pixels, padding_side="right"
        )
        records = read_llava(folder / "list_sft_oversampled.json", folder).records
        dataset = SFTDataset(records, processor, max_length=None)
        lengths = dataset.lengths
        generator = torch.Generator().manual_seed(args.seed)
        random_groups = batches(list(RandomSampler(dataset, generator=generator)), args.batch_size)
        grouped_groups = batches(
            list(LengthGroupedSampler(args.batch_size, lengths=lengths, generator=generator)), args.batch_size
        )
        schedules = {"random": (random_groups, False), "grouped": (grouped_groups, False)}
        schedules["padding-free"] = (random_groups, True)
        # What sft.train picks on CPU for padding-free runs; padded batches take plain sdpa inside it.
        model = load_model(model_dir, dtype=dtype, attn_implementation=register_sdpa_varlen())
        model.config.use_cache = False
        vision_tower(model).requires_grad_(False)
        model.train()
        print(
            f"model {args.model} ({dtype}), VHM SFT mixture ({args.size}): {len(dataset)} records, "
            f"tokens per record {min(lengths)}-{max(lengths)} (mean {sum(lengths) / len(lengths):.0f}), "
            f"image pixels {args.min_pixels}-{args.max_pixels}, batch {args.batch_size}"
        )
        fractions = {name: pad_fraction(groups, lengths, packed) for name, (groups, packed) in schedules.items()}
        # --max-batches 0: pad fractions only, no forward pass at all.
        speeds = throughput(model, dataset, processor, schedules, args.max_batches) if args.max_batches else {}
        print(f"{'batching':<14}{'batches':>9}{'pad fraction':>15}{'real tokens/s':>16}{'per CPU s':>12}")
        for name, (groups, _) in schedules.items():
            wall, cpu = speeds.get(name, (float("nan"), float("nan")))
            print(f"{name:<14}{len(groups):>9}{fractions[name]:>15.3f}{wall:>16.1f}{cpu:>12.1f}")
        if args.max_batches:
            for column, what in ((0, "real tokens/s"), (1, "real tokens per CPU s")):
                free = speeds["padding-free"][column]
                print(
                    f"{what}: padding-free {free / speeds['grouped'][column]:.2f}x grouped, "
                    f"{free / speeds['random'][column]:.2f}x random"
                )
            loss_check(model, dataset, processor, random_groups[0], dtype)
        print(
            f"pad_fraction {fractions['padding-free']:.3f} vs {fractions['grouped']:.3f} vs {fractions['random']:.3f}"
        )


def loss_check(model, dataset: SFTDataset, processor, group: list[int], dtype: str) -> None:
    items = [dataset[i] for i in group]
    with torch.no_grad():
        losses = [
            model(**model_inputs(model, SFTCollator.from_processor(processor, padding_free=packed), items)[0])
            .loss.float()
            .item()
            for packed in (False, True)
        ]
    print(
        f"loss of random batch 0 ({dtype}): padded {losses[0]:.7f}, padding-free {losses[1]:.7f}, "
        f"relative difference {abs(losses[1] - losses[0]) / abs(losses[0]):.1e}"
    )


if __name__ == "__main__":
    main()
