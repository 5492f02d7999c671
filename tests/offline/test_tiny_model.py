"""The tiny offline Qwen2-VL: loads through the Auto classes offline, generates on an image, has the real tokens,
chat template and processor limits, and is deterministic for a seed (PLATFORM: "The tiny offline Qwen2-VL")."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from common import prompts
from offline import synthetic, tiny_model
from offline.tiny_model import SPECIAL_TOKENS, TAG_TOKENS, build_tiny_model

# Parameters outside the (vocabulary-sized) tied embedding: fixed by the config, whatever the corpus gives the BPE.
NON_EMBEDDING_PARAMETERS = {"qwen2_vl": 153_856, "qwen2_5_vl": 157_920}
# The documented size: "a few hundred thousand parameters".
PARAMETER_BOUNDS = (150_000, 400_000)


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return AutoProcessor.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return AutoModelForImageTextToText.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def qwen25_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_qwen25"), seed=0, arch="qwen2_5_vl")


def scene_image(size: int = 112) -> Image.Image:
    image, _ = synthetic.render_scene("positive_easy", np.random.default_rng(0), size=112)
    return image.resize((size, size))


def image_prompt(processor, question: str = "What is in the image?") -> str:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def generate(model, processor, image: Image.Image, max_new_tokens: int = 8) -> tuple[torch.Tensor, int]:
    inputs = processor(text=[image_prompt(processor)], images=[image], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return out, inputs["input_ids"].shape[1]


# --- loading and generation ---------------------------------------------------------------------------------------


def test_loads_offline_with_auto_classes(processor, model):
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # set by conftest before transformers was imported
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2VLProcessor"
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessor"
    assert type(processor.video_processor).__name__ == "Qwen2VLVideoProcessor"
    assert type(processor.tokenizer).__name__ == "Qwen2Tokenizer"


def test_generate_on_synthetic_image(processor, model):
    out, prompt_length = generate(model, processor, scene_image(), max_new_tokens=8)
    new = out[0, prompt_length:]
    assert 1 <= len(new) <= 8
    assert int(new.max()) < model.config.text_config.vocab_size
    # Greedy decoding of a fixed checkpoint is reproducible.
    again, _ = generate(model, processor, scene_image(), max_new_tokens=8)
    assert torch.equal(out, again)


@pytest.mark.parametrize("arch", ["qwen2_vl", "qwen2_5_vl"])
def test_parameter_count(arch, tiny_model_dir, qwen25_dir):
    directory = tiny_model_dir if arch == "qwen2_vl" else qwen25_dir
    model = AutoModelForImageTextToText.from_pretrained(directory)
    text = model.config.text_config
    assert model.config.tie_word_embeddings
    assert model.num_parameters() == NON_EMBEDDING_PARAMETERS[arch] + text.vocab_size * text.hidden_size
    assert PARAMETER_BOUNDS[0] <= model.num_parameters() <= PARAMETER_BOUNDS[1]


def test_architecture(model):
    text, vision = model.config.text_config, model.config.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads) == (
        64,
        2,
        4,
        2,
    )
    head_dim = text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    # The merger projects the ViT (width 32) onto the language model's width.
    assert (vision.depth, vision.embed_dim, vision.hidden_size) == (2, 32, text.hidden_size)


def test_vocab_covers_tokenizer(processor, model):
    vocab_size = model.config.text_config.vocab_size
    assert vocab_size % tiny_model.VOCAB_MULTIPLE == 0
    assert len(processor.tokenizer) <= vocab_size < len(processor.tokenizer) + tiny_model.VOCAB_MULTIPLE
    assert len(processor.tokenizer) < 2048  # a small merge budget keeps the embedding tiny


# --- tokenizer ----------------------------------------------------------------------------------------------------


def test_config_token_ids_match_tokenizer(processor, model):
    ids = {token: processor.tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    config = model.config
    assert config.image_token_id == ids["<|image_pad|>"] == processor.image_token_id
    assert config.video_token_id == ids["<|video_pad|>"] == processor.video_token_id
    assert config.vision_start_token_id == ids["<|vision_start|>"]
    assert config.vision_end_token_id == ids["<|vision_end|>"]
    assert config.text_config.eos_token_id == ids["<|im_end|>"]
    assert config.text_config.pad_token_id == ids["<|endoftext|>"]
    generation = model.generation_config
    assert generation.eos_token_id == [ids["<|im_end|>"], ids["<|endoftext|>"]]
    assert generation.pad_token_id == ids["<|endoftext|>"]


def test_tokenizer_special_tokens(processor):
    tokenizer = processor.tokenizer
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token, tokenizer.unk_token) == (
        "<|im_end|>",
        "<|endoftext|>",
        None,
        None,
    )
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    assert len(set(ids)) == len(SPECIAL_TOKENS)
    assert set(ids) <= set(tokenizer.all_special_ids)


@pytest.mark.parametrize("token", SPECIAL_TOKENS)
def test_special_token_is_one_id_and_skipped(processor, token):
    ids = processor.tokenizer(f"a{token}b", add_special_tokens=False)["input_ids"]
    assert processor.tokenizer.convert_tokens_to_ids(token) in ids
    assert processor.tokenizer.decode(ids, skip_special_tokens=True) == "ab"


@pytest.mark.parametrize("tag", TAG_TOKENS)
def test_tag_is_one_id_and_survives_skip_special_tokens(processor, tag):
    tokenizer = processor.tokenizer
    ids = tokenizer(tag, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1
    assert ids[0] not in tokenizer.all_special_ids
    text = f"{tag} silo <|im_end|>"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == f"{tag} silo "


def test_cot_reply_round_trips(processor):
    reply = "<reasoning>A revetment is visible.</reasoning><answer>yes</answer>"
    ids = processor.tokenizer(reply + "<|im_end|>")["input_ids"]
    assert processor.tokenizer.decode(ids, skip_special_tokens=True) == reply


@pytest.mark.parametrize(
    "name", ["DEFAULT_SYSTEM", "SAMCHAT_GRPO_SYSTEM", "SAMCHAT_GRPO_SUFFIX", "SAMDATA_PROMPT", "REASONING_SYSTEM"]
)
def test_protocol_prompts_tokenise_compactly(processor, name):
    text = getattr(prompts, name)
    ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    # Whole words, not bytes: at least four characters per token on average.
    assert len(ids) * 4 <= len(text)
    assert processor.tokenizer.decode(ids) == text


# --- chat template ------------------------------------------------------------------------------------------------


def test_chat_template_is_trls_stock_copy(processor):
    from trl.chat_template_utils import get_training_chat_template, qwen2_5_vl_chat_template

    assert processor.chat_template == qwen2_5_vl_chat_template
    assert processor.tokenizer.chat_template == qwen2_5_vl_chat_template
    # TRL recognises it and swaps in its {% generation %} variant for assistant_only_loss.
    assert "{% generation %}" in get_training_chat_template(processor)


CHAT_CASES = [
    # (messages, add_generation_prompt, rendered)
    (
        [
            {"role": "system", "content": [{"type": "text", "text": prompts.DEFAULT_SYSTEM}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "question"}]},
        ],
        True,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>question<|im_end|>\n<|im_start|>assistant\n",
    ),
    # no system turn: the default system prompt is inserted, as the real model does
    (
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "question"}]}],
        True,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>question<|im_end|>\n<|im_start|>assistant\n",
    ),
    # another system prompt replaces the default; an assistant turn ends with <|im_end|>\n
    (
        [
            {"role": "system", "content": prompts.SAMCHAT_GRPO_SYSTEM},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "<answer>yes</answer>"}]},
        ],
        False,
        f"<|im_start|>system\n{prompts.SAMCHAT_GRPO_SYSTEM}<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>q<|im_end|>\n<|im_start|>assistant\n<answer>yes</answer><|im_end|>\n",
    ),
    # text-only string content
    (
        [{"role": "user", "content": "hi"}],
        True,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n",
    ),
]


@pytest.mark.parametrize("messages, add_generation_prompt, rendered", CHAT_CASES)
def test_chat_template_renders_like_qwen2_vl(processor, messages, add_generation_prompt, rendered):
    text = processor.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    assert text == rendered


# --- processor pixel limits ---------------------------------------------------------------------------------------


def test_pixel_limits_round_trip(processor):
    for sub in (processor.image_processor, processor.video_processor):
        assert (sub.size["shortest_edge"], sub.size["longest_edge"]) == (tiny_model.MIN_PIXELS, tiny_model.MAX_PIXELS)
        assert (sub.patch_size, sub.merge_size, sub.temporal_patch_size) == (14, 2, 2)


@pytest.mark.parametrize(
    "size, tokens",
    [
        (112, 16),  # 8x8 patches of 14 px, merged 2x2
        (224, 16),  # scaled down to max_pixels = 112*112
        (28, 4),  # scaled up to min_pixels = 56*56
    ],
)
def test_image_token_count(processor, size, tokens):
    inputs = processor(text=[image_prompt(processor)], images=[scene_image(size)], return_tensors="pt")
    assert int((inputs["input_ids"] == processor.image_token_id).sum()) == tokens
    assert inputs["pixel_values"].shape == (tokens * 4, 3 * 2 * 14 * 14)


# --- determinism and CLI ------------------------------------------------------------------------------------------


def tensors(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


def test_same_seed_same_files(tiny_model_dir, tmp_path):
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert (again / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()
    first, second = tensors(tiny_model_dir), tensors(again)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_other_seed_other_weights_same_tokenizer(tiny_model_dir, tmp_path):
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert (other / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()
    first, second = tensors(tiny_model_dir), tensors(other)
    assert first.keys() == second.keys()
    differing = [name for name in first if not torch.equal(first[name], second[name])]
    # Randomly initialised matrices change (norm weights and zero biases do not). Keys are in the released
    # checkpoints' layout, which transformers writes back on save.
    assert {"model.embed_tokens.weight", "visual.patch_embed.proj.weight", "visual.merger.mlp.0.weight"} <= set(
        differing
    )


def test_cli(tmp_path, capsys):
    assert tiny_model.main(["--out", str(tmp_path / "cli"), "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "cli")
    assert f"{model.num_parameters():,} parameters" in printed
    assert "seed 2" in printed


def test_unknown_arch(tmp_path):
    with pytest.raises(ValueError, match="arch must be one of"):
        build_tiny_model(tmp_path, arch="llava")


# --- Qwen2.5-VL ---------------------------------------------------------------------------------------------------


def test_qwen25_builds_loads_and_generates(qwen25_dir):
    processor = AutoProcessor.from_pretrained(qwen25_dir)
    model = AutoModelForImageTextToText.from_pretrained(qwen25_dir)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert model.config.vision_config.out_hidden_size == model.config.text_config.hidden_size
    out, prompt_length = generate(model, processor, scene_image(), max_new_tokens=6)
    assert 1 <= out.shape[1] - prompt_length <= 6
