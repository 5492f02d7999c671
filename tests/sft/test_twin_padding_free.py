"""One padding-free SFT step of the full-size Qwen2-VL-2B twin (offline/twin.py), LoRA, bf16 on CPU: the real shapes
and the real tokenizer through sft.train (measured 2026-12-01 on 2 cores: see the test's comment). The twin is
tests/conftest.py's session fixture `twin_dir`, the one tests/offline/test_twin.py uses: built once per session."""

import json
import subprocess
import sys

import pytest

from tests.machine import needs_native_bf16

pytestmark = pytest.mark.slow

GIB = 1024**3
# A parent whose only child is the command: its RUSAGE_CHILDREN peak is the command's own (this pytest process's
# would include every earlier test's subprocesses).
PEAK_RSS = [sys.executable, "-c", "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(code)"]  # fmt: skip


@needs_native_bf16
def test_twin_sft_step_padding_free(repo_root, twin_dir, synthetic_dir, tmp_path):
    """Batch 2 (an image record and a text-only one, so the packed row has two kinds of samples), 64 image tokens.
    The step trains (the adapters change) and the process stays below 12 GiB."""
    folder = synthetic_dir / "vhm"
    records = json.loads((folder / "list_sft_oversampled.json").read_text())
    pair = [records[0], next(r for r in records if "image" not in r)]
    data = tmp_path / "pair.json"
    data.write_text(json.dumps(pair))
    out = tmp_path / "sft"
    cmd = [sys.executable, "-m", "sft.train", "--config", "configs/sft/demo.yaml",
           "--model_name_or_path", str(twin_dir), "--output_dir", str(out), "--report_to", "none",
           "--data_path", str(data), "--image_folder", str(folder),
           "--image_min_pixels", "50176", "--image_max_pixels", "50176",
           "--use_peft", "true", "--freeze_llm", "true", "--freeze_vision_tower", "true", "--lora_r", "8",
           "--bf16", "true", "--padding_free", "true", "--per_device_train_batch_size", "2",
           "--max_steps", "1", "--learning_rate", "1e-3", "--merger_lr", "1e-3", "--lr_scheduler_type", "constant",
           "--warmup_steps", "0", "--logging_steps", "1", "--save_strategy", "no"]  # fmt: skip
    result = subprocess.run([*PEAK_RSS, *cmd], cwd=repo_root, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-6000:]
    peak = int(result.stderr.rsplit("peak_rss_kb ", 1)[1].split()[0]) * 1024
    assert peak < 12 * GIB, f"peak RSS {peak / GIB:.1f} GiB"
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    # A random 2B model over the 151,936-token vocabulary: the loss is about ln(151936) = 11.9.
    assert len(losses) == 1 and 10.0 < losses[0] < 14.0
    from safetensors.torch import load_file

    adapter = load_file(out / "adapter_model.safetensors")
    lora_b = [tensor for name, tensor in adapter.items() if "lora_B" in name]
    assert lora_b and any(tensor.abs().max() > 0 for tensor in lora_b)  # B starts at zero: the step moved it
