"""The GRPO recipes: every YAML loads through the stock TrlParser, paper recipes carry SPEC 4's values, the
launchers exist, and the script arguments reject bad combinations before any data or model is read."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from grpo.configs import GRPOScriptArguments
from grpo.stages import load_plan
from grpo.train import parse_args

PAPER = ["samchat_zero", "samchat_r1", "tinyrs_r1"]
GEOVLM_TASKS = ["classification", "vqa", "counting", "multilabel", "referring_detection", "detection", "captioning"]
RECIPES = [*PAPER, "geovlm_r1", "demo"]
# bf16 needs a GPU, and TRL checks at parse time that this process's share of a step holds whole groups of G (the
# demo recipe's batch does not). The CPU test adapts both and checks the file's values apart.
CPU = ["--bf16", "false", "--use_cpu", "true", "--per_device_train_batch_size", "4"]


def load(repo_root, name, *extra):
    return parse_args(["--config", str(repo_root / "configs" / "grpo" / f"{name}.yaml"), *CPU, *extra])


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_loads_and_states_its_launch_command(repo_root, name):
    text = (repo_root / "configs" / "grpo" / f"{name}.yaml").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "-m grpo.train --config configs/grpo/" + f"{name}.yaml" in header
    script, training, model = load(repo_root, name)
    assert training.loss_type == "grpo" and training.beta == 0.001
    assert training.num_generations == 4 and training.temperature == 1.0
    assert len(training.reward_weights) == len(script.reward_funcs) == 2


@pytest.mark.parametrize("name", [*PAPER, "geovlm_r1"])
def test_paper_recipes_have_the_paper_settings(repo_root, name):
    raw = yaml.safe_load((repo_root / "configs" / "grpo" / f"{name}.yaml").read_text())
    assert raw["bf16"] is True and raw["gradient_checkpointing"] is True
    # One prompt's G = 4 completions per GPU, as the released trainer's per-device batch of 1 prompt (SPEC 7.15).
    assert (raw["per_device_train_batch_size"], raw["gradient_accumulation_steps"]) == (4, 1)
    # The released step's settings where TRL 1.16's defaults differ (SPEC 7.13-7.17).
    assert (raw["use_bias_correction_kl"], raw["top_k"], raw["optim"]) == (False, 50, "adamw_torch")
    assert raw["vllm_importance_sampling_correction"] is False
    script, training, model = load(repo_root, name)
    assert training.gradient_checkpointing is True
    assert training.learning_rate == 1e-6 and training.lr_scheduler_type == "linear"
    assert training.warmup_steps == 0 and training.weight_decay == 0.0 and training.max_grad_norm == 1.0
    assert training.seed == 42
    assert training.deepspeed == "configs/deepspeed/zero3.json"
    assert (training.save_steps, training.save_total_limit, training.report_to) == (100, 6, ["wandb"])
    assert (script.image_min_pixels, script.image_max_pixels) == (3136, 2359296)
    assert model.attn_implementation == "auto" and model.dtype == "bfloat16"


@pytest.mark.parametrize(
    ("name", "rewards", "think", "mode", "fmt", "epochs", "length"),
    [
        ("samchat_zero", ["format", "samchat_keyword"], "reasoning", "search", "imagefolder", 64, 8192),
        ("samchat_r1", ["format", "samchat_keyword"], "reasoning", "search", "imagefolder", 64, 8192),
        ("tinyrs_r1", ["format", "tinyrs_accuracy"], "reasoning", "search", "tinyrs_grpo", 64, 8192),
        # the EarthDial plan's values; the JSONL plan's are tested in test_geovlm_plans.py
        ("geovlm_r1", ["format", "earthdial_accuracy"], "think", "fullmatch", "earthdial", 1, 512),
    ],
)
def test_recipe_rewards_tags_and_lengths(repo_root, name, rewards, think, mode, fmt, epochs, length):
    script, training, model = load(repo_root, name)
    assert script.reward_funcs == rewards and script.think_tag == think and script.format_mode == mode
    assert script.dataset_format == fmt
    assert training.num_train_epochs == epochs and training.max_completion_length == length


def test_starting_models(repo_root):
    starts = {name: load(repo_root, name)[2].model_name_or_path for name in PAPER}
    assert starts == {
        "samchat_zero": "Qwen/Qwen2-VL-2B-Instruct",
        "samchat_r1": "aybora/Qwen2-VL-SAMChat-Distill",
        "tinyrs_r1": "aybora/Qwen2-VL-TinyRS-CoT",
    }


def test_cli_overrides_win(repo_root):
    script, training, model = load(
        repo_root, "samchat_r1",
        "--model_name_or_path", "m", "--dataset_name", "d", "--output_dir", "o", "--max_steps", "3",
        "--report_to", "none", "--iou_mode", "upstream", "--judge_policy", "skip", "--num_generations", "2",
    )  # fmt: skip
    assert (model.model_name_or_path, script.dataset_name, training.output_dir) == ("m", "d", "o")
    assert (training.max_steps, training.report_to, training.num_generations) == (3, [], 2)
    assert (script.iou_mode, script.judge_policy) == ("upstream", "skip")


def test_geovlm_stage_plan_names_its_recipe(repo_root):
    # The JSONL-layout plan (the EarthDial-shard plan, geovlm_stages.yaml, is tested in test_earthdial_stages.py;
    # every stage's arguments in test_geovlm_plans.py).
    plan = load_plan(str(repo_root / "configs/grpo/geovlm_jsonl_stages.yaml"))
    assert plan["stages"] == GEOVLM_TASKS
    assert plan["recipe"] == "configs/grpo/geovlm_r1.yaml" and (repo_root / plan["recipe"]).is_file()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reward_funcs": ["format", "nope"]}, "unknown reward"),
        ({"reward_funcs": []}, "reward_funcs is empty"),
        ({"dataset_format": "parquet"}, "dataset_format must be one of"),
        ({"judge_policy": "maybe"}, "judge_policy must be one of"),
        ({"data_policy": "ignore"}, "data_policy must be one of"),
        ({"max_samples": 0}, "max_samples must be positive"),
    ],
)
def test_script_arguments_reject_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        GRPOScriptArguments(**fields)


def test_judge_config_defaults_to_a_cache_in_the_output_dir():
    config = GRPOScriptArguments(judge_base_url="http://127.0.0.1:8000/v1").judge_config("runs/x/")
    assert config.cache_path == "runs/x/judge_cache.jsonl"
    assert config.base_url == "http://127.0.0.1:8000/v1" and config.model == "gpt-4.1-mini-2025-04-14"
    assert config.temperature == 0.2 and config.policy == "judge"


def test_sbatch_help_and_recipe_lookup(repo_root):
    def run(*args):
        return subprocess.run(
            ["bash", "scripts/slurm/grpo.sbatch", *args], cwd=repo_root, capture_output=True, text=True
        )

    result = run("--help")
    assert result.returncode == 0 and result.stdout.startswith("GRPO on SLURM")
    assert "sbatch scripts/slurm/grpo.sbatch samchat_r1" in result.stdout
    missing = run("no_such_recipe")
    assert missing.returncode == 2 and "no recipe configs/grpo/no_such_recipe.yaml" in missing.stderr
    assert run().returncode == 2


def dry_run(repo_root, env: dict, *args: str, script: str = "grpo.sbatch") -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "CUDA_VISIBLE", "VLLM_"))}
    return subprocess.run(
        ["bash", f"scripts/slurm/{script}", *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        env={**clean, "DRY_RUN": "1", **env},
    )


VLLM_SERVER_CASES = [
    # 4 GPUs, one serves the recipe's model, three train in server mode
    (
        {"SLURM_GPUS_ON_NODE": "4", "VLLM_GPUS": "1"},
        ["samchat_r1"],
        "CUDA_VISIBLE_DEVICES=3 ",
        "--model aybora/Qwen2-VL-SAMChat-Distill ",
        "--nproc_per_node=3 ",
    ),
    # SLURM's device list is sliced, the command line's model wins over the recipe's, tensor parallel 2
    (
        {"SLURM_GPUS_ON_NODE": "4", "CUDA_VISIBLE_DEVICES": "2,3,5,7", "VLLM_GPUS": "2"},
        ["tinyrs_r1", "--model_name_or_path", "runs/tinyrs/tinyrs_cot"],
        "CUDA_VISIBLE_DEVICES=5,7 ",
        "--model runs/tinyrs/tinyrs_cot ",
        "--nproc_per_node=2 ",
    ),
    # a module with --config: the model comes from that file
    (
        {"SLURM_GPUS_ON_NODE": "5", "VLLM_GPUS": "1"},
        ["grpo.train", "--config", "configs/grpo/geovlm_r1.yaml"],
        "CUDA_VISIBLE_DEVICES=4 ",
        "--model Qwen/Qwen2.5-VL-3B-Instruct ",
        "--nproc_per_node=4 ",
    ),
]


@pytest.mark.parametrize("env, args, devices, model, nproc", VLLM_SERVER_CASES)
def test_sbatch_vllm_server_mode(repo_root, env, args, devices, model, nproc):
    result = dry_run(repo_root, env, *args)
    assert result.returncode == 0, result.stderr
    server, trainer = result.stdout.splitlines()
    assert devices in server and model in server and "/trl vllm-serve " in server
    assert f"--tensor_parallel_size {env['VLLM_GPUS']}" in server and "--port 8000" in server
    assert nproc in trainer
    assert trainer.endswith(
        "--use_vllm true --vllm_mode server --vllm_server_host 127.0.0.1 --vllm_server_port 8000 "
        "--vllm_server_timeout 900"
    )


def test_sbatch_without_vllm_gpus_starts_no_server(repo_root):
    result = dry_run(repo_root, {"SLURM_GPUS_ON_NODE": "4"}, "samchat_r1")
    (trainer,) = result.stdout.splitlines()
    assert "--nproc_per_node=4 " in trainer and "vllm" not in trainer


@pytest.mark.parametrize(
    "env, nproc, server",
    [
        # the new user on a laptop: the template's 4 GPUs, three train, the last serves
        ({"VLLM_GPUS": "1"}, "--nproc_per_node=3 ", "CUDA_VISIBLE_DEVICES=3 "),
        ({"VLLM_GPUS": "1", "GPUS_PER_NODE": "5"}, "--nproc_per_node=4 ", "CUDA_VISIBLE_DEVICES=4 "),
        ({}, "--nproc_per_node=4 ", None),
        ({"GPUS_PER_NODE": "8"}, "--nproc_per_node=8 ", None),
    ],
)
def test_dry_run_without_gpus_shows_the_cluster_launch(repo_root, tmp_path, env, nproc, server):
    """No GPU and no SLURM (nvidia-smi absent from PATH): the GPU count comes from GPUS_PER_NODE or the script's
    #SBATCH --gpus-per-node line, with one line saying so."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sed", "head", "wc", "hostname", "date", "dirname", "seq"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    result = dry_run(repo_root, {"PATH": str(bin_dir), **env}, "samchat_r1")
    assert result.returncode == 0, result.stderr
    *served, trainer = result.stdout.splitlines()
    assert nproc in trainer
    assert [server in line for line in served] == ([True] if server else [])
    if "GPUS_PER_NODE" not in env:
        assert "[dry run] no GPU here: 4 GPU(s) per node from scripts/slurm/grpo.sbatch's #SBATCH" in result.stderr


@pytest.mark.parametrize("script", ["grpo.sbatch", "sft.sbatch"])
def test_sbatch_cuda_module_hint_matches_the_gpu_lock(repo_root, script):
    lock = (repo_root / "constraints-gpu.txt").read_text()
    toolkit = re.search(r"^nvidia-cuda-cupti==(\d+)\.(\d+)\.", lock, re.M).groups()
    hint = re.search(r"^# module load cuda/(\d+)\.(\d+)", (repo_root / "scripts/slurm" / script).read_text(), re.M)
    assert hint.groups() == toolkit == ("13", "0")


@pytest.mark.parametrize(
    "env, script, message",
    [
        ({"SLURM_GPUS_ON_NODE": "1", "VLLM_GPUS": "1"}, "grpo.sbatch", "no GPU left to train on (1 on this node)"),
        ({"SLURM_GPUS_ON_NODE": "8", "SLURM_NNODES": "2", "VLLM_GPUS": "1"}, "grpo.sbatch", "runs on one node"),
        ({"SLURM_GPUS_ON_NODE": "4", "VLLM_GPUS": "1"}, "sft.sbatch", "vLLM server mode is for GRPO"),
    ],
)
def test_sbatch_vllm_server_mode_refuses(repo_root, env, script, message):
    recipe = "samchat_base" if script == "sft.sbatch" else "samchat_r1"
    result = dry_run(repo_root, env, recipe, script=script)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.parametrize("name", ["ddp", "zero2", "zero3"])
def test_accelerate_configs_name_existing_deepspeed_files(repo_root, name):
    config = yaml.safe_load((repo_root / "configs/accelerate" / f"{name}.yaml").read_text())
    assert config["num_processes"] == 4 and config["use_cpu"] is False
    if name == "ddp":
        assert config["distributed_type"] == "MULTI_GPU"
    else:
        ds = config["deepspeed_config"]
        assert config["distributed_type"] == "DEEPSPEED" and (repo_root / ds["deepspeed_config_file"]).is_file()
        assert ds["zero3_init_flag"] is (name == "zero3")


def test_paper_recipe_parses_on_a_cpu_host(repo_root):
    # issue 16: the CPU fallback (common.training.adapt_to_host) applies to GRPO's config too.
    import torch

    from grpo.train import parse_args

    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only fallback")
    recipe = str(repo_root / "configs" / "grpo" / "samchat_r1.yaml")
    _, training, _ = parse_args(["--config", recipe, "--deepspeed", "", "--per_device_train_batch_size", "4"])
    assert (training.use_cpu, training.bf16, bool(training.deepspeed)) == (True, True, False)


def test_dr_grpo_with_std_scaling_is_one_clear_line(repo_root, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load(repo_root, "samchat_r1", "--loss_type", "dr_grpo")
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "loss_type dr_grpo with scale_rewards 'group'" in last and "set scale_rewards none" in last


def test_dr_grpo_without_std_scaling_parses(repo_root):
    _, training, _ = load(repo_root, "samchat_r1", "--loss_type", "dr_grpo", "--scale_rewards", "none")
    assert (training.loss_type, training.scale_rewards) == ("dr_grpo", "none")


def test_print_config_resolves_every_group_without_a_model(repo_root, capsys):
    from grpo.train import OBJECTIVE_FIELDS, main

    recipe = str(repo_root / "configs" / "grpo" / "samchat_r1.yaml")
    # A model path that does not exist: printing must not load it.
    argv = ["--config", recipe, *CPU, "--model_name_or_path", "/nonexistent/model", "--print-config", "--top_k", "7"]
    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert list(printed) == ["objective", "script", "training", "model"]
    assert list(printed["objective"]) == list(OBJECTIVE_FIELDS)
    objective = printed["objective"]
    assert (objective["loss_type"], objective["beta"], objective["use_bias_correction_kl"]) == ("grpo", 0.001, False)
    assert (objective["scale_rewards"], objective["top_k"], objective["optim"]) == ("group", 7, "adamw_torch")
    assert objective["vllm_importance_sampling_correction"] is False and objective["epsilon"] == 0.2
    assert printed["training"]["top_k"] == 7 and printed["training"]["learning_rate"] == 1e-6
    assert printed["script"]["reward_funcs"] == ["format", "samchat_keyword"]
    assert printed["model"]["model_name_or_path"] == "/nonexistent/model"
