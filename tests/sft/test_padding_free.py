"""sft.data padding-free batches: token-exact labels, per-sample M-RoPE positions, and the same loss and gradients as
the padded batch (fp32, tiny model), for both templates, Qwen2-VL and Qwen2.5-VL, and the dummy vision pass."""

import pytest
import torch

from common.data import read_llava
from common.modeling import load_model, load_processor
from sft.data import (
    IGNORE_INDEX,
    SFTCollator,
    encode,
    packed_position_ids,
    padding_free_inputs,
    rope_index_of,
)
from sft.modeling import SDPA_VARLEN, register_sdpa_varlen, sdpa_varlen_attention, training_attn_implementation


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return load_processor(tiny_model_dir, padding_side="right")


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir, dtype="float32")


@pytest.fixture(scope="module")
def vhm(synthetic_dir):
    folder = synthetic_dir / "vhm"
    return read_llava(folder / "list_sft_oversampled.json", folder).records


def mixed_batch(vhm, processor, template="paper"):
    """Three image records of different lengths and one text-only record (the VHM mixture has both)."""
    images = [r for r in vhm if r.images][:3]
    text = next(r for r in vhm if not r.images)
    return [encode(r, processor, template) for r in (images[0], text, images[1], images[2])]


def test_flattened_batch_is_token_exact(vhm, processor):
    items = mixed_batch(vhm, processor)
    packed = SFTCollator.from_processor(processor, padding_free=True)(items)
    padded = SFTCollator.from_processor(processor)(items)
    lengths = [len(i["input_ids"]) for i in items]
    assert packed["seq_lengths"].tolist() == lengths
    assert "attention_mask" not in packed
    assert packed["input_ids"].shape == (1, sum(lengths))
    assert torch.equal(packed["input_ids"][0], torch.cat([i["input_ids"] for i in items]))
    assert torch.equal(packed["labels"][0], torch.cat([i["labels"] for i in items]))
    assert torch.equal(packed["mm_token_type_ids"][0], torch.cat([i["mm_token_type_ids"] for i in items]))
    # The loss targets: each padded row's own shifted labels, the padding cut away; nothing crosses a boundary.
    start = 0
    for row, n in enumerate(lengths):
        expected = torch.cat([padded["labels"][row, 1:n], torch.tensor([IGNORE_INDEX])])
        assert torch.equal(packed["shift_labels"][0, start : start + n], expected)
        start += n
    # The Trainer's normaliser (labels[..., 1:] of the padded batch, shift_labels when given) is the same count.
    assert packed["shift_labels"].ne(IGNORE_INDEX).sum() == padded["labels"][:, 1:].ne(IGNORE_INDEX).sum()
    assert torch.equal(packed["pixel_values"], padded["pixel_values"])
    assert torch.equal(packed["image_grid_thw"], padded["image_grid_thw"])


def test_positions_restart_per_sample(vhm, processor, model):
    items = mixed_batch(vhm, processor)
    packed = SFTCollator.from_processor(processor, padding_free=True)(items)
    positions = packed_position_ids(rope_index_of(model), packed)
    assert positions.shape == (4, 1, sum(packed["seq_lengths"].tolist()))
    single = SFTCollator.from_processor(processor)
    start = 0
    for item in items:
        n = len(item["input_ids"])
        alone = single([item])
        expected, _ = model.model.get_rope_index(
            alone["input_ids"],
            alone["mm_token_type_ids"],
            image_grid_thw=alone.get("image_grid_thw"),
            attention_mask=alone["attention_mask"],
        )
        assert positions[0, 0, start : start + n].tolist() == list(range(n))  # text positions: the sample boundary
        assert torch.equal(positions[1:, 0, start : start + n], expected[:, 0])  # M-RoPE as if alone
        start += n
    # An image sample's M-RoPE positions end below its length (the image block spans max(h, w) positions).
    assert positions[1:, 0, : len(items[0]["input_ids"])].max() < len(items[0]["input_ids"]) - 1


def losses_and_grads(model, batch, padding_free):
    model.zero_grad(set_to_none=True)
    inputs = padding_free_inputs(rope_index_of(model), batch) if padding_free else batch
    loss = model(**inputs).loss
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return loss.item(), grads


@pytest.mark.parametrize(
    "arch, template, attention",
    [
        ("qwen2_vl", "paper", "sdpa"),  # the released models' template; transformers' block-diagonal mask
        ("qwen2_vl", "official", "sdpa"),  # Qwen's chat template
        ("qwen2_5_vl", "paper", "sdpa"),  # GeoVLM-R1's base architecture
        ("qwen2_vl", "paper", SDPA_VARLEN),  # what sft.train uses on CPU: one sdpa call per sample
        ("qwen2_5_vl", "official", SDPA_VARLEN),
        ("qwen2_vl", "paper", "eager"),  # eager attention with the block-diagonal mask
    ],
)
def test_loss_and_gradients_equal_padded(tiny_model_dir, tmp_path, vhm, arch, template, attention):
    from offline.tiny_model import build_tiny_model

    model_dir = tiny_model_dir if arch == "qwen2_vl" else build_tiny_model(tmp_path / arch, arch=arch)
    if attention == SDPA_VARLEN:
        register_sdpa_varlen()
    model = load_model(model_dir, dtype="float32", attn_implementation=attention)
    processor = load_processor(model_dir, padding_side="right")
    model.train()
    items = mixed_batch(vhm, processor, template)
    padded_loss, padded_grads = losses_and_grads(model, SFTCollator.from_processor(processor)(items), False)
    packed = SFTCollator.from_processor(processor, padding_free=True)(items)
    packed_loss, packed_grads = losses_and_grads(model, packed, True)
    assert packed_loss == pytest.approx(padded_loss, rel=1e-5)
    assert packed_grads.keys() == padded_grads.keys()
    for name, grad in padded_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    if attention == "sdpa":
        # Against a wrong packing (a KV cache: transformers then ignores the sample boundaries) it is not vacuous.
        leaky = {**padding_free_inputs(rope_index_of(model), packed), "use_cache": True}
        assert model(**leaky).loss.item() != pytest.approx(padded_loss, rel=1e-5)


@pytest.mark.parametrize(
    "requested, padding_free, expected",
    [
        ("auto", True, SDPA_VARLEN),  # CPU (no flash-attn here): per-sample sdpa
        ("sdpa", True, SDPA_VARLEN),
        ("eager", True, "eager"),  # explicit eager keeps its (block-diagonal) mask
        ("auto", False, "sdpa"),  # padded batches: unchanged
    ],
)
def test_training_attn_implementation(requested, padding_free, expected):
    assert training_attn_implementation(requested, padding_free) == expected


def test_sdpa_varlen_splits_only_packed_rows():
    """Direct check of the attention function: a packed row equals its samples attended one by one; a row
    without restarting positions is plain causal sdpa."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = torch.nn.Module()
    module.is_causal, module.num_key_value_groups = True, 1
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 7, 4) for _ in range(3))
    positions = torch.tensor([[0, 1, 2, 0, 1, 2, 3]])
    out, _ = sdpa_varlen_attention(module, q, k, v, None, position_ids=positions)
    first = sdpa_attention_forward(module, q[:, :, :3], k[:, :, :3], v[:, :, :3], None)[0]
    second = sdpa_attention_forward(module, q[:, :, 3:], k[:, :, 3:], v[:, :, 3:], None)[0]
    torch.testing.assert_close(out, torch.cat([first, second], dim=1), rtol=0, atol=0)
    whole, _ = sdpa_varlen_attention(module, q, k, v, None, position_ids=torch.arange(7)[None])
    torch.testing.assert_close(whole, sdpa_attention_forward(module, q, k, v, None)[0], rtol=0, atol=0)
    assert not torch.allclose(whole, out)


def test_dummy_vision_sample_keeps_loss_and_reaches_the_tower(model, processor, vhm):
    """Text-only batch on a multi-rank run: the dummy image is a sample of its own, loss unchanged, tower grads 0."""
    text = [r for r in vhm if not r.images][:2]
    items = [encode(r, processor, "paper") for r in text]
    plain = SFTCollator.from_processor(processor)(items)
    packed = SFTCollator.from_processor(processor, vision_pass_for_text_only=True, padding_free=True)(items)
    lengths = [len(i["input_ids"]) for i in items]
    assert packed["seq_lengths"].tolist() == [*lengths, 1]  # one merged image token, alone
    assert packed["image_grid_thw"].tolist() == [[1, 2, 2]]
    assert packed["shift_labels"].ne(IGNORE_INDEX).sum() == plain["labels"][:, 1:].ne(IGNORE_INDEX).sum()
    model.train()
    loss = model(**padding_free_inputs(rope_index_of(model), packed)).loss
    assert loss.item() == pytest.approx(model(**plain).loss.item(), rel=1e-5)
    model.zero_grad(set_to_none=True)
    loss.backward()
    visual = model.model.visual
    assert all(p.grad is not None for p in visual.parameters())
    assert max(p.grad.abs().max().item() for p in visual.parameters()) == 0.0
    model.zero_grad(set_to_none=True)


def test_rope_index_of_rejects_other_models():
    with pytest.raises(ValueError, match="Linear has no get_rope_index"):
        rope_index_of(torch.nn.Linear(2, 2))
