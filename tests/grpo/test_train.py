"""grpo.train end to end on the tiny model and synthetic SAMChat data: the stock GRPOTrainer trains with per-device
batch > 1 and G = 4, logs every reward and the reward-hacking signals, saves, reloads, resumes exactly, and runs
under torchrun (DDP) and DeepSpeed ZeRO-3 with beta > 0 (PLATFORM.md)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard

from common.modeling import load_model
from common.provenance import read_run_record
from grpo.train import main
from offline.tiny_model import build_tiny_model
from tests.resume_runs import kill_during_save_then_rerun

pytestmark = pytest.mark.slow

# format and samchat_keyword score 0 for a random model's text; completion_length gives the group variance that
# makes advantages, and hence gradients, non-zero (PLATFORM.md test pitfall).
REWARDS = ["--reward_funcs", "format", "samchat_keyword", "completion_length", "--reward_weights", "1", "1", "1"]


def demo_args(tiny_model_dir, synthetic_dir, output_dir, *extra):
    return [
        "--config", "configs/grpo/demo.yaml",
        "--model_name_or_path", str(tiny_model_dir),
        "--dataset_name", str(synthetic_dir / "samdata/grpo"),
        "--output_dir", str(output_dir),
        "--max_completion_length", "16", "--report_to", "none", "--logging_steps", "1",
        *REWARDS, *extra,
    ]  # fmt: skip


@pytest.fixture
def in_repo(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)


def weights(path):
    return {name: p.detach().clone() for name, p in load_model(path, dtype="float32").named_parameters()}


def log_history(output_dir):
    return json.loads((output_dir / "trainer_state.json").read_text())["log_history"]


def test_demo_recipe_trains_logs_saves_and_reloads(in_repo, tiny_model_dir, synthetic_dir, tmp_path):
    out = tmp_path / "grpo"
    extra = ["--max_steps", "3", "--per_device_train_batch_size", "8"]
    assert main(demo_args(tiny_model_dir, synthetic_dir, out, *extra)) == 0
    history = log_history(out)
    steps = [entry for entry in history if "loss" in entry]
    assert len(steps) == 3
    for key in (
        "rewards/format/mean", "rewards/samchat_keyword/mean", "rewards/completion_length/mean",
        "frac_reward_zero_std", "completions/mean_length", "reward", "kl",
    ):  # fmt: skip
        assert key in steps[0], key
    # 8 completions per step = 2 prompts x G 4 (per-device batch 8 > 1).
    assert all(0.0 <= entry["rewards/completion_length/mean"] <= 1.0 for entry in steps)
    before, after = weights(tiny_model_dir), weights(out)
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert any("visual" in name for name in changed) and any("layers" in name for name in changed)
    assert (out / "processor_config.json").is_file() and (out / "chat_template.jinja").is_file()
    launch = read_run_record(out)["launches"][-1]
    assert launch["config"]["script"]["reward_funcs"] == ["format", "samchat_keyword", "completion_length"]
    assert launch["config"]["training"]["beta"] == 0.001 and launch["stage"] == "grpo"
    # the shared model vocabulary, and the reward options inherited by the script arguments
    assert (launch["config"]["model"]["freeze_vision_tower"], launch["config"]["model"]["use_peft"]) == (False, False)
    assert launch["config"]["script"]["keywords"] == ["military", "missile", "silo"]
    assert "grpo" in ModelCard.load(out / "README.md").data.tags  # ours, replacing TRL's draft


def test_frozen_vision_tower_stays_put(in_repo, tiny_model_dir, synthetic_dir, tmp_path):
    out = tmp_path / "frozen"
    assert main(demo_args(tiny_model_dir, synthetic_dir, out, "--max_steps", "1", "--freeze_vision_tower", "true")) == 0
    before, after = weights(tiny_model_dir), weights(out)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    # The encoder stays put; its merger is not part of the frozen tower (the same meaning as SFT's flag).
    assert changed and not any("visual" in name and ".merger." not in name for name in changed)


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(in_repo, tiny_model_dir, synthetic_dir, tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    # beta 0: no reference model, whose weights come from the start model rather than the checkpoint.
    # 4 prompts per step from the 6-image synthetic set: one step per epoch, so the rerun resumes in a later epoch
    # than it saved in, and must still draw each epoch's prompts in the same order (EpochSeededRepeatSampler).
    common = ["--max_steps", "4", "--save_steps", "2", "--save_total_limit", "3", "--beta", "0"]
    common += ["--per_device_train_batch_size", "16"]
    assert main(demo_args(tiny_model_dir, synthetic_dir, full, *common)) == 0
    # An interrupted run: only its first checkpoint exists; the rerun finds it in output_dir and continues. It names
    # another start model, so only the checkpoint's weights can make it end where the uninterrupted run ended.
    resumed.mkdir()
    shutil.copytree(full / "checkpoint-2", resumed / "checkpoint-2")
    other_start = build_tiny_model(tmp_path / "other", seed=1)
    assert main(demo_args(other_start, synthetic_dir, resumed, *common)) == 0
    a, b = weights(full), weights(resumed)
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert [e["step"] for e in log_history(resumed) if "loss" in e] == [1, 2, 3, 4]
    assert [e["epoch"] for e in log_history(full) if "loss" in e] == [1.0, 2.0, 3.0, 4.0]


def test_lora_trains_adapters_only(in_repo, tiny_model_dir, synthetic_dir, tmp_path):
    out = tmp_path / "lora"
    extra = ["--max_steps", "1", "--use_peft", "true", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj"]
    assert main(demo_args(tiny_model_dir, synthetic_dir, out, *extra)) == 0
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and set(config["target_modules"]) == {"q_proj", "v_proj"}


def torchrun(repo_root, args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_EXTENSIONS_DIR": str(repo_root / "outputs/.torch_extensions")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "grpo.train", *args]  # fmt: skip
    result = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.mark.parametrize("deepspeed", [None, "configs/deepspeed/zero3.json"], ids=["ddp", "zero3"])
def test_two_ranks_with_a_reference_model(repo_root, tiny_model_dir, synthetic_dir, tmp_path, deepspeed):
    out = tmp_path / "dist"
    # per-device batch 4 on 2 ranks: 8 completions per step = 2 prompts x G 4, each group spread over both ranks.
    args = demo_args(tiny_model_dir, synthetic_dir, out, "--max_steps", "2", "--per_device_train_batch_size", "4")
    if deepspeed:
        args += ["--deepspeed", deepspeed]
    torchrun(repo_root, args)
    steps = [entry for entry in log_history(out) if "loss" in entry]
    assert len(steps) == 2 and all("kl" in entry for entry in steps)  # beta 0.001: a reference model ran
    assert weights(out).keys() == weights(tiny_model_dir).keys()


@pytest.fixture
def judge_server(monkeypatch):
    """A loopback OpenAI-compatible server (tests/grpo/test_judge.py) for the run's judge; yields (fake, base URL)."""
    from http.server import ThreadingHTTPServer
    from threading import Thread

    from tests.grpo.test_judge import KEY, KEY_ENV, FakeOpenAI, _Handler

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.fake = FakeOpenAI()
    Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, KEY)
    try:
        yield httpd.fake, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def tinyrs_judge_args(dataset, url):
    from tests.grpo.test_judge import KEY_ENV

    return [
        "--dataset_name", str(dataset), "--dataset_format", "tinyrs_grpo",
        "--reward_funcs", "format", "tinyrs_accuracy", "completion_length", "--reward_weights", "1", "1", "1",
        "--judge_policy", "judge", "--judge_base_url", url,
        "--judge_api_key_env", KEY_ENV, "--judge_max_retries", "1", "--judge_backoff", "0.01",
    ]  # fmt: skip


def test_tinyrs_training_survives_a_failing_judge(
    in_repo, tiny_model_dir, synthetic_dir, tmp_path, judge_server, caplog
):
    # The server grades the first open-ended answer, then answers 500 forever: the run must finish, count the
    # failures in its logs, and never show the key.
    from tests.grpo.test_judge import KEY, Step

    fake, url = judge_server
    fake.reset(Step(text="Score: 7"), Step(status=500))
    out = tmp_path / "tinyrs"
    args = demo_args(tiny_model_dir, synthetic_dir, out, "--max_steps", "2", "--per_device_train_batch_size", "16")
    with caplog.at_level("INFO"):
        assert main([*args, *tinyrs_judge_args(synthetic_dir / "vhm_grpo", url)]) == 0
    steps = [entry for entry in log_history(out) if "loss" in entry]
    # Counts per step (summed over ranks): at least one graded call and one failed call in the run.
    assert sum(e["judge/calls"] for e in steps) >= 2 and sum(e["judge/failures"] for e in steps) >= 1
    assert "rewards/tinyrs_accuracy/mean" in steps[-1]
    assert len(fake.requests) >= 3  # one graded, then a failure and its retry
    saved = "".join(path.read_text(errors="ignore") for path in out.rglob("*") if path.suffix in (".json", ".jsonl"))
    assert KEY not in caplog.text and KEY not in saved


def test_judge_counts_are_summed_over_two_ranks(repo_root, tiny_model_dir, synthetic_dir, tmp_path, judge_server):
    # Only open-ended rows: every completion of every rank asks the judge once, so each step's judge/calls must be
    # the completions of both ranks (2 x 8), where rank 0's own count would be 8.
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    fake, url = judge_server
    rows = load_from_disk(str(synthetic_dir / "vhm_grpo"))["train"].filter(lambda row: row["solution"][0] == "0")
    assert len(rows) >= 1
    # Enough prompts for 2 steps of 2 ranks x 2 prompts.
    DatasetDict(train=concatenate_datasets([rows] * (8 // len(rows) + 1))).save_to_disk(str(tmp_path / "open_ended"))
    out = tmp_path / "dist"
    args = demo_args(tiny_model_dir, synthetic_dir, out, "--max_steps", "2", "--per_device_train_batch_size", "8")
    torchrun(repo_root, [*args, *tinyrs_judge_args(tmp_path / "open_ended", url)])
    steps = [entry for entry in log_history(out) if "loss" in entry]
    assert [entry["judge/calls"] for entry in steps] == [16.0, 16.0]
    assert sum(entry["judge/calls"] - entry["judge/cached"] for entry in steps) == len(fake.requests)
    assert all(entry["judge/failures"] == 0.0 for entry in steps)


def test_kill_9_during_a_checkpoint_save_then_the_same_command_resumes_exactly(
    repo_root, tiny_model_dir, synthetic_dir, tmp_path
):
    """SIGKILL halfway through writing checkpoint-4/model.safetensors, then the same command again: the rerun
    passes over the partial checkpoint-4, resumes from checkpoint-2 and ends with the uninterrupted run's weights,
    max abs difference 0. (Before: every rerun crashed loading the cut-short weights of checkpoint-4.)"""
    common = ["--max_steps", "4", "--save_steps", "2", "--save_total_limit", "3", "--beta", "0",
              "--per_device_train_batch_size", "16"]  # fmt: skip
    full, killed = tmp_path / "full", tmp_path / "killed"
    left, rerun = kill_during_save_then_rerun(
        repo_root,
        "grpo.train",
        demo_args(tiny_model_dir, synthetic_dir, full, *common),
        demo_args(tiny_model_dir, synthetic_dir, killed, *common),
        killed,
        step=4,
        point="weights",
    )
    assert "model.safetensors" in left and "trainer_state.json" not in left
    assert f"resuming from {killed / 'checkpoint-2'} (newest complete checkpoint" in rerun.stderr
    a, b = weights(full), weights(killed)
    assert a.keys() == b.keys()
    assert max((a[name] - b[name]).abs().max().item() for name in a) == 0.0
    assert [e["step"] for e in log_history(killed) if "loss" in e] == [1, 2, 3, 4]


def validation_args(synthetic_dir):
    return ["--val_task", "samdata", "--val_data_root", str(synthetic_dir / "samdata/test"), "--val_samples", "6",
            "--val_batch_size", "4", "--val_max_new_tokens", "8", "--eval_steps", "2"]  # fmt: skip


def test_validation_every_two_steps_and_shadow_metrics(in_repo, tiny_model_dir, synthetic_dir, tmp_path):
    """A tiny run validating every 2 steps: the benchmark's scorer, both protocols, in the step's log; the shadow gap
    of samchat_keyword beside its reward at every step (grpo.validation, grpo.rewards.shadow)."""
    out = tmp_path / "val"
    extra = ["--max_steps", "4", "--per_device_train_batch_size", "8", *validation_args(synthetic_dir)]
    assert main(demo_args(tiny_model_dir, synthetic_dir, out, *extra, "--report_to", "tensorboard")) == 0
    steps = {entry["step"]: entry for entry in log_history(out) if "loss" in entry}
    assert sorted(steps) == [1, 2, 3, 4]
    validated = sorted(step for step, entry in steps.items() if "val/samdata/f1" in entry)
    assert validated == [2, 4]
    for step in validated:
        entry = steps[step]
        # SAMData's confusion counts over the 6 held-out rows, under both protocols.
        assert sum(entry[f"val/samdata/{k}"] for k in ("tp", "fp", "tn", "fn")) == 6.0
        assert sum(entry[f"val/samdata/strict/{k}"] for k in ("tp", "fp", "tn", "fn")) == 6.0
        assert 0.0 <= entry["val/samdata/strict/accuracy"] <= 1.0
        predictions = out / "validation" / f"step-{step}" / "samdata" / "predictions.jsonl"
        assert len(predictions.read_text().splitlines()) == 6
    assert all(0.0 <= entry["shadow/samchat_keyword/strict_gap"] <= 1.0 for entry in steps.values())
    # TensorBoard gets them through the same log (its callback files them under train/).
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = {path.parent for path in out.rglob("events.out.tfevents*")}
    scalars = EventAccumulator(str(events)).Reload().Tags()["scalars"]
    assert {"train/val/samdata/f1", "train/val/samdata/strict/f1", "train/shadow/samchat_keyword/strict_gap"} <= set(
        scalars
    )


def test_validation_under_zero3_on_two_ranks(repo_root, tiny_model_dir, synthetic_dir, tmp_path):
    # 5 rows over 2 ranks: uneven shares (3 and 2) and different answer lengths must not leave a rank waiting.
    out = tmp_path / "zero3_val"
    args = demo_args(tiny_model_dir, synthetic_dir, out, "--max_steps", "2", "--per_device_train_batch_size", "4")
    args += [*validation_args(synthetic_dir), "--val_samples", "5", "--deepspeed", "configs/deepspeed/zero3.json"]
    torchrun(repo_root, args)
    (entry,) = [entry for entry in log_history(out) if "val/samdata/f1" in entry]
    assert entry["step"] == 2
    assert sum(entry[f"val/samdata/{k}"] for k in ("tp", "fp", "tn", "fn")) == 5.0  # every rank's answers, scored once
    shares = [
        len((out / f"validation/step-2/rank-{r}/samdata/predictions.jsonl").read_text().splitlines()) for r in (0, 1)
    ]
    assert shares == [3, 2]
