"""Integration: sft.train on the tiny model and synthetic data (CPU). The demo recipe through the CLI, trainable flags
in a real run, resume equality, LoRA + merge_lora, and 2-rank torchrun (DDP over gloo) / DeepSpeed ZeRO-2 / ZeRO-3."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForImageTextToText, AutoProcessor

from common.provenance import read_run_record
from sft.merge_lora import main as merge_main
from sft.modeling import part_of_parameters
from sft.train import main as train_main
from tests.resume_runs import kill_during_save_then_rerun, run_python

pytestmark = pytest.mark.slow


def data_flags(synthetic_dir, section="samdata"):
    if section == "samdata":
        folder = synthetic_dir / "samdata" / "train"
        return ["--data_path", str(folder / "sam_300_reasoning_inst.json"), "--image_folder", str(folder)]
    folder = synthetic_dir / "vhm"
    return ["--data_path", str(folder / "list_sft_oversampled.json"), "--image_folder", str(folder)]


def recipe(repo_root, tiny_model_dir, output_dir, *extra):
    return ["--config", str(repo_root / "configs/sft/demo.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--output_dir", str(output_dir), "--report_to", "none", "--logging_steps", "1", *extra]  # fmt: skip


def weights(folder):
    """Parameters by their in-memory names, as the checkpoint loads (files use the legacy key names)."""
    model = AutoModelForImageTextToText.from_pretrained(folder)
    return {name: p.detach() for name, p in model.named_parameters()}


def changed_parts(before, after, model):
    """Part (vision / merger / llm) -> whether at least one of its tensors changed."""
    changed = {}
    for name, part in part_of_parameters(model).items():
        changed[part] = changed.get(part, False) or not torch.equal(before[name], after[name])
    return changed


def losses(output_dir):
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def launch(cmd, repo_root, torch_extensions_dir, timeout=300):
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(torch_extensions_dir), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def test_demo_recipe_trains_saves_and_reloads(repo_root, tiny_model_dir, synthetic_dir, tmp_path):
    out = tmp_path / "sft"
    cmd = [sys.executable, "-m", "sft.train", "--config", "configs/sft/demo.yaml",
           "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out), *data_flags(synthetic_dir),
           "--max_steps", "12", "--save_steps", "6", "--logging_steps", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-5000:]
    loss = losses(out)
    assert len(loss) == 12
    assert sum(loss[-3:]) / 3 < loss[0] - 0.5  # ~7.1 -> ~5.9 on this data
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-6", "checkpoint-12"}
    assert (out / "checkpoint-6" / "processor_config.json").is_file()
    assert list((out / "runs").rglob("events.out.tfevents.*"))  # the recipe reports to tensorboard
    model = AutoModelForImageTextToText.from_pretrained(out)
    AutoProcessor.from_pretrained(out)
    changed = changed_parts(weights(tiny_model_dir), weights(out), model)
    assert changed == {"vision": True, "merger": True, "llm": True}
    # Provenance beside the weights: the launch's resolved arguments, data fingerprint, and a model card.
    launch = read_run_record(out)["launches"][-1]
    assert (launch["stage"], launch["recipe"], launch["data"]["records"]) == ("sft", "configs/sft/demo.yaml", 6)
    assert launch["config"]["data"]["prompt_template"] == "paper"
    assert launch["config"]["training"]["max_steps"] == 12
    assert (launch["config"]["model"]["use_peft"], launch["config"]["model"]["tune_merger"]) == (False, True)
    assert launch["data"]["sources"][0]["path"].endswith("sam_300_reasoning_inst.json")
    assert "sft" in ModelCard.load(out / "README.md").data.tags


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--freeze_vision_tower", "true"], {"vision": False, "merger": True, "llm": True}),
        (["--freeze_llm", "true", "--tune_merger", "false"], {"vision": True, "merger": False, "llm": False}),
    ],
)
def test_frozen_parts_do_not_change(repo_root, tiny_model_dir, synthetic_dir, tmp_path, flags, expected):
    out = tmp_path / "sft"
    assert train_main(recipe(repo_root, tiny_model_dir, out, *data_flags(synthetic_dir), "--max_steps", "3",
                             "--save_strategy", "no", *flags)) == 0  # fmt: skip
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert changed_parts(weights(tiny_model_dir), weights(out), model) == expected


def test_resume_matches_an_uninterrupted_run(repo_root, tiny_model_dir, synthetic_dir, tmp_path):
    """Stopped after checkpoint-2 (simulated by copying it into a fresh output_dir) and rerun with the same command:
    the newest checkpoint is picked up automatically and the final weights equal the uninterrupted run's.
    Batch 2 over 6 records: the resume point lies inside an epoch, so the data order must be restored too."""
    flags = [
        *data_flags(synthetic_dir),
        "--max_steps",
        "5",
        "--save_steps",
        "2",
        "--save_total_limit",
        "5",
        "--per_device_train_batch_size",
        "2",
    ]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert train_main(recipe(repo_root, tiny_model_dir, full, *flags)) == 0
    resumed.mkdir()
    shutil.copytree(full / "checkpoint-2", resumed / "checkpoint-2")
    assert train_main(recipe(repo_root, tiny_model_dir, resumed, *flags)) == 0
    a, b = weights(full), weights(resumed)
    assert a.keys() == b.keys()
    # Same arithmetic in the same order on one CPU: equal up to float32 round-off.
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6, msg=key)
    assert losses(resumed)[-3:] == pytest.approx(losses(full)[-3:], abs=1e-4)
    embed = "model.language_model.embed_tokens.weight"
    assert not torch.equal(a[embed], weights(full / "checkpoint-2")[embed])


def test_lora_train_then_merge(repo_root, tiny_model_dir, synthetic_dir, tmp_path):
    from peft import PeftModel

    adapter, merged = tmp_path / "lora", tmp_path / "merged"
    assert train_main(recipe(repo_root, tiny_model_dir, adapter, *data_flags(synthetic_dir), "--max_steps", "3",
                             "--save_strategy", "no", "--use_peft", "true", "--freeze_llm", "true",
                             "--freeze_vision_tower", "true", "--lora_r", "4", "--lora_alpha", "8",
                             "--learning_rate", "1e-2", "--merger_lr", "1e-2")) == 0  # fmt: skip
    assert (adapter / "adapter_config.json").is_file() and not (adapter / "model.safetensors").exists()
    assert merge_main(["--adapter", str(adapter), "--output", str(merged)]) == 0
    model = AutoModelForImageTextToText.from_pretrained(merged)
    AutoProcessor.from_pretrained(merged)
    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    with_adapter = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_model_dir), adapter)
    ids = torch.tensor([[1, 20, 30, 40, 2]])
    torch.testing.assert_close(model(input_ids=ids).logits, with_adapter(input_ids=ids).logits, rtol=0, atol=1e-5)
    assert not torch.allclose(model(input_ids=ids).logits, base(input_ids=ids).logits)
    changed = changed_parts(weights(tiny_model_dir), weights(merged), model)
    assert changed == {"vision": False, "merger": True, "llm": True}


def mixed_two_records(synthetic_dir, tmp_path):
    """One image record and one text-only record: with 2 ranks and batch 1, every step one rank is text-only."""
    folder = synthetic_dir / "vhm"
    records = json.loads((folder / "list_sft_oversampled.json").read_text())
    pair = [records[0], next(r for r in records if "image" not in r)]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(pair))
    return ["--data_path", str(path), "--image_folder", str(folder)]


# The demo recipe warms up as the released SFT run did (warmup_shape deepspeed_log: optimizer steps 1 and 2 at lr 0,
# SPEC 7.23); the two-step runs below check that every part trains, so they take a linear warm-up, whose second step
# runs at full rate.
MOVING_WARMUP = ("--warmup_shape", "linear")


@pytest.mark.parametrize("zero", [None, "zero2", "zero3", "zero3_offload"])
def test_two_ranks(repo_root, tiny_model_dir, synthetic_dir, tmp_path, torch_extensions_dir, zero):
    out = tmp_path / "sft"
    # --standalone: a local c10d rendezvous on a free port chosen by torchrun itself (no port races between tests).
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd = [*torchrun, "-m", "sft.train", *recipe(repo_root, tiny_model_dir, out, *mixed_two_records(synthetic_dir, tmp_path),
           "--max_steps", "2", "--per_device_train_batch_size", "1", "--save_strategy", "no", *MOVING_WARMUP)]  # fmt: skip
    if zero:
        cmd += ["--deepspeed", f"configs/deepspeed/{zero}.json"]
    result = launch(cmd, repo_root, torch_extensions_dir, timeout=480)
    # A torch AdamW over the per-module groups, under optimizer offload too (accelerate then runs it as DeepSpeed's CPU
    # Adam in AdamW mode; SPEC 7.24, tests/sft/test_released_step.py proves the step).
    assert "INFO sft.trainer: optimizer AdamW\n" in result.stderr
    model = AutoModelForImageTextToText.from_pretrained(out)
    saved, initial = weights(out), weights(tiny_model_dir)
    # ZeRO-3 saves the gathered 16-bit weights (stage3_gather_16bit_weights_on_model_save): full shapes, not shards.
    assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in initial.items()}
    assert changed_parts(initial, saved, model) == {"vision": True, "merger": True, "llm": True}
    assert len(losses(out)) == 2 and all(loss == loss for loss in losses(out))  # finite, logged each step


def test_kill_9_during_a_checkpoint_save_then_the_same_command_resumes_exactly(
    repo_root, tiny_model_dir, synthetic_dir, tmp_path
):
    """SIGKILL while checkpoint-4 is written (weights on disk, optimizer state not yet), then the same command again:
    the rerun passes over the partial checkpoint-4, resumes from checkpoint-2 and ends with the uninterrupted run's
    weights, max abs difference 0. (Before: it resumed from the partial folder at step 0.) All three runs are
    subprocesses with the same environment, so thread counts cannot change the arithmetic."""
    flags = [*data_flags(synthetic_dir), "--max_steps", "4", "--save_steps", "2", "--save_total_limit", "5",
             "--per_device_train_batch_size", "2"]  # fmt: skip
    full, killed = tmp_path / "full", tmp_path / "killed"
    left, rerun = kill_during_save_then_rerun(
        repo_root,
        "sft.train",
        recipe(repo_root, tiny_model_dir, full, *flags),
        recipe(repo_root, tiny_model_dir, killed, *flags),
        killed,
        step=4,
        point="optimizer",
    )
    assert "model.safetensors" in left and not left & {"optimizer.pt", "trainer_state.json"}
    assert f"resuming from {killed / 'checkpoint-2'} (newest complete checkpoint" in rerun.stderr
    a, b = weights(full), weights(killed)
    assert a.keys() == b.keys()
    assert max((a[name] - b[name]).abs().max().item() for name in a) == 0.0


@pytest.mark.parametrize(
    "flags",
    [
        [],  # full fine-tuning
        # LoRA; dropout 0: its random masks depend on the tensor shapes, which packing changes
        "--use_peft true --freeze_llm true --lora_r 4 --lora_alpha 8 --lora_dropout 0".split(),
    ],
)
def test_padding_free_trains_like_padded(repo_root, tiny_model_dir, synthetic_dir, tmp_path, flags):
    """Same data order, batch 4 x gradient accumulation 2 over image and text-only records: padding-free gives the
    padded run's per-step losses and final weights (the loss is normalised over the same tokens)."""
    common = [*data_flags(synthetic_dir, "vhm"), "--max_steps", "3", "--save_strategy", "no",
              "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "2", *flags]  # fmt: skip
    padded, packed = tmp_path / "padded", tmp_path / "packed"
    assert train_main(recipe(repo_root, tiny_model_dir, padded, *common)) == 0
    assert train_main(recipe(repo_root, tiny_model_dir, packed, *common, "--padding_free", "true")) == 0
    assert len(losses(packed)) == 3
    assert losses(packed) == pytest.approx(losses(padded), rel=1e-5)
    if flags:  # the adapter checkpoints
        from safetensors.torch import load_file

        a, b = (load_file(folder / "adapter_model.safetensors") for folder in (padded, packed))
    else:
        a, b = weights(padded), weights(packed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-5, msg=key)


def test_two_ranks_padding_free_zero3(repo_root, tiny_model_dir, synthetic_dir, tmp_path, torch_extensions_dir):
    """ZeRO-3 with padding-free batches; one rank is text-only every step, so its dummy image runs as a packed
    sample of its own."""
    out = tmp_path / "sft"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd = [*torchrun, "-m", "sft.train", *recipe(repo_root, tiny_model_dir, out, *mixed_two_records(synthetic_dir, tmp_path),
           "--max_steps", "2", "--per_device_train_batch_size", "1", "--save_strategy", "no",
           "--deepspeed", "configs/deepspeed/zero3.json", "--padding_free", "true", *MOVING_WARMUP)]  # fmt: skip
    launch(cmd, repo_root, torch_extensions_dir, timeout=480)
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert changed_parts(weights(tiny_model_dir), weights(out), model) == {"vision": True, "merger": True, "llm": True}
    assert len(losses(out)) == 2 and all(loss == loss for loss in losses(out))


def test_ctrl_c_ends_with_one_line_naming_the_checkpoint_and_the_same_command_resumes(
    repo_root, tiny_model_dir, synthetic_dir, tmp_path
):
    """A real SIGINT right after checkpoint-2 is saved: exit status 130, no traceback, one last logged line naming
    the checkpoint and the command; that command, run again, resumes from it and finishes."""
    out = tmp_path / "out"
    args = recipe(repo_root, tiny_model_dir, out, *data_flags(synthetic_dir), "--max_steps", "4", "--save_steps", "2",
                  "--per_device_train_batch_size", "2")  # fmt: skip
    stopped = run_python(repo_root, "-m", "tests.interrupt_after_save", "2", "sft.train", *args)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    # The last log line: tqdm redraws its bar after it, as the process exits.
    logged = [line for line in stopped.stderr.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:", line)]
    expected = f"the same command resumes from {out / 'checkpoint-2'}: python -m sft.train {shlex.join(args)}"
    assert logged[-1].endswith(f"WARNING common.interrupt: interrupted (Ctrl-C); {expected}")
    rerun = run_python(repo_root, "-m", "sft.train", *args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint-2'} (newest complete checkpoint" in rerun.stderr
