"""eval.shard: which batches a rank owns, how ranks of a node split its GPUs, and the launcher's variables."""

import os

import pytest

from eval.shard import Shard, detect_shard, pin_devices


def test_batches_go_round_robin():
    assert [b for b in range(7) if Shard(1, 3).owns(b)] == [1, 4]
    assert all(Shard().owns(b) for b in range(5)) and Shard().main and not Shard(1, 2).main


def test_one_process_without_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert detect_shard() == Shard(0, 1)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert detect_shard() == Shard(0, 1)


@pytest.mark.parametrize(
    ("visible", "local_rank", "tp", "expected"),
    [
        ("4,5,6,7", 1, 2, "6,7"),  # the second copy of a 2-GPU model on the node's visible GPUs
        ("4,5,6,7", 3, 1, "7"),
        (None, 2, 1, "2"),  # nothing set: the node's GPUs counted from 0
        (None, 1, 4, "4,5,6,7"),
    ],
)
def test_vllm_ranks_get_their_own_gpus(monkeypatch, visible, local_rank, tp, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible or "")  # restored after the test, also when deleted here
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    pin_devices(Shard(local_rank, 4, local_rank), "vllm", tp)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == expected


def test_too_few_gpus_for_the_tensor_parallel_size(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    with pytest.raises(ValueError, match=r"rank 2 \(local 2\) needs GPUs 4..5 of CUDA_VISIBLE_DEVICES=0,1,2,3"):
        pin_devices(Shard(2, 3, 2), "vllm", 2)


def test_one_process_keeps_its_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    pin_devices(Shard(), "vllm", 2)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3,5"
