"""Build a full-size twin of Qwen2-VL-2B-Instruct offline: the published architecture with random weights, the real
tokenizer, the real processor defaults and the stock chat template.

Nothing about it is learned, but everything about its shape is real: 2,208,985,600 parameters, vocabulary 151,936,
image tokens per pixel, sequence lengths, memory and FLOPs. It shows what the tiny model cannot (bf16 updates lost,
memory per recipe, tag tokenisation) without the Hugging Face Hub. Building needs the cached tokenizer (`make install`,
offline/qwen_tokenizer.py), about a minute on 2 CPU cores, ~6 GB of RAM and 4.4 GB of disk (bf16 weights).

    flock /tmp/rs_r1_heavy.lock python -m offline.twin --out DIR [--seed N] [--dtype bfloat16|float32]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch
from transformers import (
    GenerationConfig,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from offline.qwen_tokenizer import QWEN2_VL_VOCAB_SIZE, TokenizerUnavailable, load_qwen2_tokenizer, stock_chat_template

logger = logging.getLogger(__name__)

# Qwen2-VL-2B-Instruct's config.json (published sizes).
TEXT = {
    "vocab_size": QWEN2_VL_VOCAB_SIZE,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "rms_norm_eps": 1e-06,
    "use_sliding_window": False,
    "sliding_window": 32768,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "pad_token_id": 151643,
    # Multimodal RoPE: temporal / height / width sections sum to head_dim / 2 = 1536 / 12 / 2 = 64.
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
}
VISION = {
    "depth": 32,
    "embed_dim": 1280,
    "hidden_size": 1536,  # the merger's output: the language model's width
    "num_heads": 16,
    "mlp_ratio": 4,
    "in_channels": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}
TOKEN_IDS = {
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
}
# preprocessor_config.json of Qwen2-VL-2B-Instruct. transformers 5.24's Qwen2VLImageProcessor defaults to a longest
# edge of 1003520 pixels, so the real limit (12.8 MP: upstream's images ran at it, SPEC 7.1) is set explicitly.
MIN_PIXELS = 3136
MAX_PIXELS = 12845056
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
EXPECTED_PARAMETERS = 2_208_985_600


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (amx_bf16 / avx512_bf16). Without them PyTorch runs the twin's
    bf16 matmuls on slow fallback kernels (one SFT step ran past 15 minutes on a 2-core AVX2-only AMD EPYC, about a
    minute on an AMX machine): the benchmarks then run the twin in fp32, and its bf16 slow tests skip."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def build_config() -> Qwen2VLConfig:
    config = Qwen2VLConfig(text_config=dict(TEXT), vision_config=dict(VISION), tie_word_embeddings=True, **TOKEN_IDS)
    return config


def build_processor(tokenizer=None) -> Qwen2VLProcessor:
    tokenizer = load_qwen2_tokenizer(stock_chat_template()) if tokenizer is None else tokenizer
    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    geometry = {"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2}
    return Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, image_mean=CLIP_MEAN, image_std=CLIP_STD, **geometry),
        # The real checkpoint has no video config, so its video processor reads the same preprocessor_config.json.
        video_processor=Qwen2VLVideoProcessor(
            size=dict(size), image_mean=CLIP_MEAN, image_std=CLIP_STD, cap_pixels_per_frame=True, **geometry
        ),
        tokenizer=tokenizer,
        chat_template=stock_chat_template(),
    )


def build_twin(out_dir: str | Path, *, seed: int = 0, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write the twin checkpoint to out_dir (model in `dtype`, as Qwen2-VL-2B-Instruct ships bf16) and return it."""
    out = Path(out_dir)
    started = time.monotonic()
    processor = build_processor()
    config = build_config()
    logger.info("initialising %s random weights (%s)", f"{EXPECTED_PARAMETERS:,}", dtype)
    # Initialised directly in the target dtype: an fp32 copy first would double the peak memory (~9 GB more).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration._from_config(config, dtype=dtype)
    count = model.num_parameters()
    if count != EXPECTED_PARAMETERS:
        raise RuntimeError(f"twin has {count:,} parameters, Qwen2-VL-2B has {EXPECTED_PARAMETERS:,}")
    # Qwen2-VL-2B-Instruct's generation_config ids: stop at the turn end or the document end, pad with <|endoftext|>.
    # Its sampling defaults (top_k 1, ...) are left out: every stage here passes its own.
    model.generation_config = GenerationConfig(
        bos_token_id=TEXT["bos_token_id"],
        eos_token_id=[TEXT["eos_token_id"], TEXT["pad_token_id"]],
        pad_token_id=TEXT["pad_token_id"],
    )
    out.mkdir(parents=True, exist_ok=True)
    logger.info("saving to %s", out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    logger.info("twin written to %s in %.0f s", out, time.monotonic() - started)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument(
        "--dtype", choices=("bfloat16", "float32"), default="bfloat16", help="weights on disk (default bfloat16)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        out = build_twin(args.out, seed=args.seed, dtype=getattr(torch, args.dtype))
    except TokenizerUnavailable as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    print(f"{out}: Qwen2-VL-2B twin, {EXPECTED_PARAMETERS:,} parameters, {args.dtype}, seed {args.seed}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
