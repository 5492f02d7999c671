"""common.training's precision and host rules: float32 master weights for half-precision training without DeepSpeed
(issue 16: one bf16 step at lr 1e-5 changed 11.7 % of the twin's weights), and the CPU fallback of GPU recipes."""

import logging
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from common import training
from common.training import adapt_to_host, keep_fp32_master_weights


def model(dtype=torch.bfloat16) -> nn.Module:
    net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2)).to(dtype)
    net[1].requires_grad_(False)  # a frozen part stays in its loaded dtype
    return net


def args(deepspeed=None, bf16=False, fp16=False):
    return SimpleNamespace(deepspeed=deepspeed, bf16=bf16, fp16=fp16)


MASTER_CASES = [
    # (weights dtype, training arguments, tensors cast, trainable dtype afterwards)
    (torch.bfloat16, args(bf16=True), 4, torch.float32),  # bf16 autocast without DeepSpeed: fp32 masters
    (torch.float16, args(fp16=True), 4, torch.float32),  # fp16 likewise
    (torch.bfloat16, args(deepspeed="zero3.json", bf16=True), 0, torch.bfloat16),  # DeepSpeed keeps its own
    (torch.float32, args(bf16=True), 0, torch.float32),  # already float32: nothing to do
    (torch.float32, args(), 0, torch.float32),  # plain fp32 training
]


@pytest.mark.parametrize("dtype, training_args, cast, after", MASTER_CASES)
def test_keep_fp32_master_weights(dtype, training_args, cast, after):
    net = model(dtype)
    assert keep_fp32_master_weights(net, training_args) == cast
    assert {p.dtype for p in net.parameters() if p.requires_grad} == {after}
    assert net[1].weight.dtype == dtype  # frozen weights are never cast


def test_half_weights_without_mixed_precision_are_refused():
    with pytest.raises(ValueError, match="4 trainable tensors are torch.bfloat16 but neither bf16 nor fp16"):
        keep_fp32_master_weights(model(), args())


def test_master_weights_take_every_update():
    # The defect itself: AdamW at lr 1e-5 on bf16 weights leaves most of them unchanged; on the fp32 masters none.
    for cast, expected_unchanged in ((False, True), (True, False)):
        torch.manual_seed(0)
        net = nn.Linear(256, 256).to(torch.bfloat16)
        if cast:
            keep_fp32_master_weights(net, args(bf16=True))
        before = net.weight.detach().float().clone()
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5, weight_decay=0.0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            net(torch.randn(8, 256)).float().pow(2).mean().backward()
        optimizer.step()
        unchanged = (net.weight.detach().float() == before).float().mean().item()
        assert (unchanged > 0.5) is expected_unchanged, unchanged


def host_args(use_cpu=False, tf32=None):
    return SimpleNamespace(use_cpu=use_cpu, tf32=tf32)


HOST_CASES = [
    # (CUDA present, use_cpu, tf32, expected use_cpu, expected tf32, logged)
    (False, False, True, True, None, "no CUDA GPU on this host: use_cpu true, tf32 off"),  # paper recipe on a CPU
    (False, True, None, True, None, None),  # already a CPU recipe: silent
    (False, True, True, True, None, "no CUDA GPU on this host: tf32 off"),
    (True, False, True, False, True, None),  # a GPU: untouched
]


@pytest.mark.parametrize("cuda, use_cpu, tf32, want_cpu, want_tf32, logged", HOST_CASES)
def test_adapt_to_host(monkeypatch, caplog, cuda, use_cpu, tf32, want_cpu, want_tf32, logged):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(training, "_other_accelerator", lambda: False)
    values = host_args(use_cpu, tf32)
    with caplog.at_level(logging.WARNING, logger="common.training"):
        adapt_to_host(values)
    assert (values.use_cpu, values.tf32) == (want_cpu, want_tf32)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ([] if logged is None else [f"{logged} (the recipe asks for a GPU)"])
