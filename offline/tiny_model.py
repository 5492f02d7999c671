"""Build a tiny, randomly initialised Qwen2-VL (or Qwen2.5-VL) fully offline, for tests and demos.

The checkpoint has the real architecture classes, the real processor classes and the stock chat template, so every
stage runs its production code path on it; only the sizes are small. The tokenizer is a byte-level BPE in Qwen2's
pipeline (same normaliser, pre-tokeniser regex and decoder) trained on the synthetic data's texts, so prompts and
replies tokenise into few tokens and the embedding stays tiny. `--tokenizer qwen2` uses the real Qwen2-VL tokenizer
instead (offline.qwen_tokenizer: 151,657 tokens, vocabulary 151,936 as Qwen2-VL-2B), so token-level behaviour is the
real model's; the embedding then holds ~10M of the model's parameters and the demo would learn far more slowly.

    python -m offline.tiny_model --out DIR [--seed N] [--arch qwen2_vl|qwen2_5_vl] [--tokenizer tiny|qwen2]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from tokenizers import AddedToken
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2Tokenizer,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from common import prompts
from offline.qwen_tokenizer import (
    QWEN2_VL_SPECIAL_TOKENS,
    QWEN2_VL_VOCAB_SIZE,
    TokenizerUnavailable,
    load_qwen2_tokenizer,
    stock_chat_template,
)
from offline.synthetic.text import tokenizer_corpus

logger = logging.getLogger(__name__)

ARCHS = ("qwen2_vl", "qwen2_5_vl")
TOKENIZERS = ("tiny", "qwen2")
# Qwen2-VL's special tokens in their real order (ids 0-13 here; the real vocabulary puts them after its merges).
# <|endoftext|> pads and ends documents; <|im_end|> ends every turn and so is the chat model's eos.
SPECIAL_TOKENS = QWEN2_VL_SPECIAL_TOKENS
# Reasoning / answer tags as single added tokens, non-special so that decode(skip_special_tokens=True) keeps them
# (rewards and scorers parse them from decoded text).
TAG_TOKENS = ("<reasoning>", "</reasoning>", "<think>", "</think>", "<answer>", "</answer>")

# Small merge budget: the synthetic corpus saturates at about a thousand merges, and the embedding must stay tiny.
BPE_VOCAB_SIZE = 1536
# Qwen pads its embedding beyond the tokenizer length; a multiple of 64 keeps that property (len(tokenizer) <
# vocab_size) so code that mixes the two sizes is exercised as with the real checkpoint.
VOCAB_MULTIPLE = 64

# Pixel limits: a 112x112 image becomes 8x8 patches of 14 px, merged 2x2 into 16 tokens; at least a 56x56 image.
MIN_PIXELS = 56 * 56
MAX_PIXELS = 112 * 112
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2

TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 1000000.0,
        # Multimodal RoPE: temporal / height / width sections must sum to head_dim / 2 = 64 / 4 / 2 = 8.
        "mrope_section": [4, 2, 2],
    },
}
VISION_DEPTH = 2
VISION_WIDTH = 32
VISION_HEADS = 2


def _vision_config(arch: str) -> dict:
    common = {
        "depth": VISION_DEPTH,
        "num_heads": VISION_HEADS,
        "patch_size": PATCH_SIZE,
        "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH_SIZE,
    }
    if arch == "qwen2_vl":
        # Qwen2-VL: embed_dim is the ViT width, hidden_size the merger's output (= the language model width).
        return {**common, "embed_dim": VISION_WIDTH, "hidden_size": TEXT["hidden_size"], "mlp_ratio": 2}
    # Qwen2.5-VL: hidden_size is the ViT width, out_hidden_size the merger's output. Window attention on 112 px
    # windows (4x4 merged tokens) in every block but the last, which attends globally, as in the real model.
    return {
        **common,
        "hidden_size": VISION_WIDTH,
        "out_hidden_size": TEXT["hidden_size"],
        "intermediate_size": 2 * VISION_WIDTH,
        "window_size": 112,
        "fullatt_block_indexes": [VISION_DEPTH - 1],
    }


def build_tokenizer() -> Qwen2Tokenizer:
    """Byte-level BPE in Qwen2's pipeline, trained on the synthetic texts and the protocol prompts."""
    corpus = [
        *tokenizer_corpus(),
        # Every protocol prompt tokenises compactly, whichever of them the synthetic corpus happens to contain.
        prompts.DEFAULT_SYSTEM,
        prompts.SAMCHAT_GRPO_SYSTEM,
        prompts.SAMCHAT_GRPO_SUFFIX,
        prompts.SAMDATA_PROMPT,
        prompts.REASONING_SYSTEM,
        prompts.THINK_SYSTEM,
        prompts.TINYRS_CLS_PREFIX,
        prompts.TINYRS_VQA_PREFIX,
        prompts.TINYRS_VG_PREFIX,
        prompts.QWEN2VL_INSTRUCT_GROUNDING,
        prompts.QWEN2VL_GROUNDING,
        *prompts.SAMCHAT_KEYWORDS,
    ]
    # train_new_from_iterator keeps Qwen2Tokenizer's normaliser, pre-tokeniser and decoder; only the merges are new.
    tokenizer = Qwen2Tokenizer().train_new_from_iterator(
        [corpus],
        vocab_size=BPE_VOCAB_SIZE,
        new_special_tokens=list(SPECIAL_TOKENS[1:]),
        show_progress=False,
    )
    # As in Qwen2-VL-Instruct: eos is the turn end, pad is <|endoftext|>, no bos / unk (byte-level never needs one).
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    tokenizer.unk_token = None
    tokenizer.model_max_length = TEXT["max_position_embeddings"]
    tokenizer.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in TAG_TOKENS])
    tokenizer.chat_template = stock_chat_template()
    return tokenizer


def build_processor(tokenizer: Qwen2Tokenizer, arch: str = "qwen2_vl") -> Qwen2VLProcessor | Qwen2_5_VLProcessor:
    """The real processor classes (Qwen2.5-VL reuses Qwen2-VL's image and video processors) with small limits."""
    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    geometry = {"patch_size": PATCH_SIZE, "merge_size": MERGE_SIZE, "temporal_patch_size": TEMPORAL_PATCH_SIZE}
    processor_class = Qwen2VLProcessor if arch == "qwen2_vl" else Qwen2_5_VLProcessor
    return processor_class(
        image_processor=Qwen2VLImageProcessor(size=size, **geometry),
        # cap_pixels_per_frame bounds a whole video's pixels the way qwen-vl-utils does (and silences the
        # transformers warning about the default changing).
        video_processor=Qwen2VLVideoProcessor(size=dict(size), cap_pixels_per_frame=True, **geometry),
        tokenizer=tokenizer,
        chat_template=stock_chat_template(),
    )


def build_config(
    tokenizer: Qwen2Tokenizer, arch: str = "qwen2_vl", vocab_size: int | None = None
) -> Qwen2VLConfig | Qwen2_5_VLConfig:
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    if vocab_size is None:
        vocab_size = -(-len(tokenizer) // VOCAB_MULTIPLE) * VOCAB_MULTIPLE
    if vocab_size < len(tokenizer):
        raise ValueError(f"vocab_size {vocab_size} is smaller than the tokenizer ({len(tokenizer)} tokens)")
    config_class = Qwen2VLConfig if arch == "qwen2_vl" else Qwen2_5_VLConfig
    return config_class(
        text_config={
            **TEXT,
            "vocab_size": vocab_size,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config=_vision_config(arch),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        # Qwen2-VL-2B ties the input and output embeddings; so does the tiny model (and it halves its size).
        tie_word_embeddings=True,
    )


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, arch: str = "qwen2_vl", tokenizer: str = "tiny") -> Path:
    """Write a loadable tiny checkpoint (model, generation config, processor, tokenizer) to `out_dir`.

    Deterministic: the same seed gives byte-identical tokenizer files and identical weights. tokenizer "qwen2" needs
    the cached real tokenizer (offline.qwen_tokenizer; `make install` fetches it).
    """
    return _build(out_dir, seed, arch, tokenizer)[0]


def _build(out_dir: str | Path, seed: int, arch: str, tokenizer_name: str = "tiny") -> tuple[Path, PreTrainedModel]:
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if tokenizer_name not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {tokenizer_name!r}")
    out = Path(out_dir)
    if tokenizer_name == "qwen2":
        tokenizer = load_qwen2_tokenizer(stock_chat_template())
        config = build_config(tokenizer, arch, vocab_size=QWEN2_VL_VOCAB_SIZE)
    else:
        tokenizer = build_tokenizer()
        config = build_config(tokenizer, arch)
    processor = build_processor(tokenizer, arch)

    model_class = Qwen2VLForConditionalGeneration if arch == "qwen2_vl" else Qwen2_5_VLForConditionalGeneration
    # A private RNG stream: the weights depend on the seed only, and the caller's global RNG state is left alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    # As the real Instruct checkpoints: stop at the end of the turn (or the document), pad with <|endoftext|>.
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=[config.text_config.eos_token_id, config.text_config.pad_token_id],
        pad_token_id=config.text_config.pad_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    logger.info("tiny %s with %d parameters written to %s", arch, model.num_parameters(), out)
    return out, model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument("--arch", choices=ARCHS, default="qwen2_vl", help="architecture (default qwen2_vl)")
    parser.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default="tiny",
        help="'tiny': a small BPE trained on the synthetic texts (default; fast, the demo learns); 'qwen2': the real "
        "Qwen2-VL tokenizer (cached by `make install`)",
    )
    args = parser.parse_args(argv)
    try:
        out, model = _build(args.out, args.seed, args.arch, args.tokenizer)
    except TokenizerUnavailable as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    text = model.config.text_config
    summary = (
        f"{out}: {args.arch}, {model.num_parameters():,} parameters, vocab {text.vocab_size}, "
        f"text hidden {text.hidden_size} x {text.num_hidden_layers} layers, seed {args.seed}"
    )
    print(summary)  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
