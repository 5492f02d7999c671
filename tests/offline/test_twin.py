"""The full-size Qwen2-VL-2B twin through every stage on CPU (slow; each test < 5 min and < 12 GiB on 2 cores):
one SFT step with LoRA + vision LoRA + merger at their own rates, one GRPO step with LoRA (beta 0.001, a reward with
variance), eval.run on 2 images and the web demo page. What they show that the tiny model cannot: the initial loss
of a random 151,936-way head, float32 master weights of bf16 recipes without DeepSpeed (issue 16), the real
tokenizer and processor end to end."""

import gc
import json
import math
import urllib.request

import pytest
import torch
from safetensors import safe_open

from tests.machine import needs_native_bf16
from tests.serve_process import start_serve

pytestmark = pytest.mark.slow

LN_VOCAB = math.log(151936)  # 11.93: the loss of a uniform prediction over Qwen2-VL's vocabulary


@pytest.fixture(autouse=True)
def release_memory():
    # Each test holds a 2B model; collect it before the next one loads its own (peak per test, not their sum).
    yield
    gc.collect()


def tensors(path, pattern):
    with safe_open(path, "pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys() if pattern in key}


def merger_weight(path):
    (weight,) = tensors(path, "merger.mlp.0.weight").values()
    return weight


def log_history(out):
    return json.loads((out / "trainer_state.json").read_text())["log_history"]


def test_twin_checkpoint(twin_dir):
    config = json.loads((twin_dir / "config.json").read_text())
    assert config["text_config"]["hidden_size"] == 1536 and config["vision_config"]["depth"] == 32
    assert (
        sum(t.numel() for t in tensors(twin_dir / "model.safetensors", "").values()) == 2_208_985_600
    )  # tied: the head is the embedding
    assert merger_weight(twin_dir / "model.safetensors").dtype == torch.bfloat16


@needs_native_bf16
def test_sft_step_lora_vision_merger(twin_dir, synthetic_dir, repo_root, tmp_path):
    from sft.train import main

    folder = synthetic_dir / "samdata" / "train"
    out = tmp_path / "sft"
    argv = ["--config", str(repo_root / "configs/sft/demo.yaml"), "--model_name_or_path", str(twin_dir),
            "--data_path", str(folder / "sam_300_reasoning_inst.json"), "--image_folder", str(folder),
            "--output_dir", str(out), "--report_to", "none", "--max_steps", "1", "--logging_steps", "1",
            "--per_device_train_batch_size", "1", "--bf16", "true", "--learning_rate", "1e-5",
            "--vision_lr", "2e-6", "--merger_lr", "1e-5", "--warmup_steps", "0", "--save_strategy", "no",
            "--use_peft", "true", "--freeze_llm", "true", "--freeze_vision_tower", "true", "--vision_lora", "true",
            "--tune_merger", "true", "--lora_r", "8", "--lora_alpha", "16"]  # fmt: skip
    assert main(argv) == 0
    (first, *_) = [entry for entry in log_history(out) if "loss" in entry]
    assert abs(first["loss"] - LN_VOCAB) < 1.0, first  # a random head: close to uniform over 151,936 tokens
    adapter = out / "adapter_model.safetensors"
    merger = merger_weight(adapter)
    assert merger.dtype == torch.float32  # the bf16 merger trained on float32 master weights
    assert not torch.equal(merger, merger_weight(twin_dir / "model.safetensors").float())
    lora_b = tensors(adapter, "lora_B")
    assert any("visual" in key for key in lora_b) and any("language_model" in key for key in lora_b)
    assert all(bool(t.abs().sum() > 0) for t in lora_b.values())  # every adapter moved off its zero start


@needs_native_bf16
def test_grpo_step_lora(twin_dir, synthetic_dir, repo_root, tmp_path):
    from grpo.train import main

    out = tmp_path / "grpo"
    argv = ["--config", str(repo_root / "configs/grpo/demo.yaml"), "--model_name_or_path", str(twin_dir),
            "--dataset_name", str(synthetic_dir / "samdata" / "grpo"), "--output_dir", str(out), "--report_to", "none",
            "--max_steps", "1", "--logging_steps", "1", "--bf16", "true", "--dtype", "bfloat16",
            "--learning_rate", "1e-6", "--beta", "0.001", "--reward_funcs", "format", "completion_length",
            "--reward_weights", "1.0", "1.0", "--num_generations", "2", "--per_device_train_batch_size", "2",
            "--max_completion_length", "16", "--save_strategy", "no", "--use_peft", "true", "--lora_r", "8",
            "--lora_target_modules", "q_proj", "v_proj", "--lora_modules_to_save", "merger"]  # fmt: skip
    assert main(argv) == 0
    (entry,) = [entry for entry in log_history(out) if "loss" in entry]
    assert entry["rewards/completion_length/std"] > 0  # random completions differ in length: a learning signal
    adapter = out / "adapter_model.safetensors"
    merger = merger_weight(adapter)
    assert merger.dtype == torch.float32
    assert not torch.equal(merger, merger_weight(twin_dir / "model.safetensors").float())
    assert all(bool(t.abs().sum() > 0) for t in tensors(adapter, "lora_B").values())


@needs_native_bf16
def test_eval_run_two_images(twin_dir, synthetic_dir, tmp_path):
    from eval.run import main

    out = tmp_path / "eval"
    argv = ["--model", str(twin_dir), "--tasks", "samdata", "--data-root", str(synthetic_dir / "samdata" / "test"),
            "--output-dir", str(out), "--limit", "2", "--max-new-tokens", "8", "--dtype", "bfloat16",
            "--no-report"]  # fmt: skip
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "samdata" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(isinstance(row["prediction"], str) for row in rows)
    task = json.loads((out / "metrics.json").read_text())["tasks"]["samdata"]
    assert (task["samples"], task["errors"], task["max_new_tokens"]) == (2, 0, 8)
    assert task["paper"]["tp"] + task["paper"]["fp"] + task["paper"]["tn"] + task["paper"]["fn"] == 2


def test_web_demo_page(twin_dir, repo_root, tmp_path):
    process, page = start_serve(twin_dir, repo_root, tmp_path, ready_within=240)
    try:
        assert "gradio" in page.lower()
        with urllib.request.urlopen(f"{process.url}/config", timeout=10) as response:
            assert "SAMChat check" in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert list(tmp_path.glob("rs_r1_serve_*")) == []
