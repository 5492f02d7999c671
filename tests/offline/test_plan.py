"""offline.plan: parameters per part under the recipe's flags, tokens at the recipe's pixel limits (real processor),
DeepSpeed's estimators for model states, and the warning with advice when a recipe does not fit."""

import json

import pytest
from transformers import AutoModelForImageTextToText

from offline.plan import (
    ACTIVATION_BYTES_PER_PATCH,
    ACTIVATION_BYTES_PER_TOKEN,
    GIB,
    LOGITS_BYTES_PER_TOKEN,
    main,
    make_eval_plan,
    make_plan,
)
from offline.plan import argparse as plan_argparse

TOTAL = 2_208_985_600  # Qwen2-VL-2B


def args(config, *extra, gpus=4, memory=80.0):
    return plan_argparse.Namespace(
        config=config, gpus=gpus, gpu_memory=memory, peak_tflops=989.0, mfu=0.4, samples=300,
        image_size="1024x1024", reply_tokens=256, overhead_gb=1.5, model=None, set=list(extra),
    )  # fmt: skip


@pytest.fixture(scope="module")
def distill(repo_root, qwen2_tokenizer_dir):
    return make_plan(args(str(repo_root / "configs/sft/samchat_distill.yaml")))


def test_parameters_and_tokens_of_a_paper_recipe(distill):
    text = "\n".join(distill.lines)
    assert "total 2,208,985,600 (vision 631.2M, merger 34.1M, llm 1,543.7M)" in text
    assert "trainable 2,208,985,600" in text  # full fine-tuning
    # 1024x1024 at the recipe's max 1003520 pixels: resized to 980x980 -> 70x70 patches -> 35x35 merged tokens
    assert "image 1,225 (1024x1024 px at pixel limits 401408..1003520); vision patches 4,900" in text
    assert "3 steps" in text  # 300 samples at 128 per step
    # 16 samples of 1,519 tokens and 4,900 patches per GPU with checkpointing and Liger: 78.7 of 80 GiB
    assert distill.fits and distill.memory_gib == pytest.approx(78.7, abs=0.1)


def test_zero3_offload_uses_deepspeeds_estimator(distill):
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    _, gpu, _ = estimate_zero3_model_states_mem_needs(TOTAL, 151936 * 1536, 4, 1, True, True)
    # the recipe uses Liger: no logits in the activations
    per_token = ACTIVATION_BYTES_PER_TOKEN[True] - LOGITS_BYTES_PER_TOKEN
    activations = 16 * (1519 * per_token + 4900 * ACTIVATION_BYTES_PER_PATCH[True])
    assert distill.memory_gib == pytest.approx((gpu + activations) / GIB + 1.5, rel=1e-6)


@pytest.mark.parametrize(
    "overrides, trainable",
    [
        # LoRA rank 64 on the 7 projections of 28 layers: 28 x 64 x 41,216 = 73,859,072, plus the merger trained fully
        (["use_peft=true", "freeze_llm=true", "freeze_vision_tower=true"], "trainable 107,947,008 (vision 0.0M"),
        # nothing but the merger: ln_q + 5120x5120 + 5120x1536 with biases
        (["freeze_llm=true", "freeze_vision_tower=true"], "trainable 34,087,936 (vision 0.0M, merger 34.1M, llm 0.0M)"),
    ],
)
def test_trainable_flags(repo_root, qwen2_tokenizer_dir, overrides, trainable):
    plan = make_plan(args(str(repo_root / "configs/sft/samchat_distill.yaml"), *overrides))
    assert trainable in "\n".join(plan.lines)


@pytest.mark.parametrize(
    "recipe, overrides, trainable",
    [
        # the SFT papers' 2U1 names plan as the canonical ones (the first case of test_trainable_flags)
        ("sft/samchat_distill.yaml", ["lora_enable=true", "freeze_llm=true", "freeze_vision_tower=true"],
         "trainable 107,947,008 (vision 0.0M"),
        # GRPO's frozen encoder keeps training its merger, as grpo.train does (the SFT flag's meaning)
        ("grpo/samchat_r1.yaml", ["freeze_vision_tower=true"],
         "trainable 1,577,802,240 (vision 0.0M, merger 34.1M, llm 1,543.7M)"),
    ],
)  # fmt: skip
def test_trainable_flags_in_both_vocabularies_and_stages(repo_root, qwen2_tokenizer_dir, recipe, overrides, trainable):
    plan = make_plan(args(str(repo_root / "configs" / recipe), *overrides))
    assert trainable in "\n".join(plan.lines)


def test_warns_with_advice_when_it_does_not_fit(repo_root, qwen2_tokenizer_dir, capsys):
    code = main(["--config", str(repo_root / "configs/sft/samchat_distill.yaml"), "--gpus", "4", "--gpu-memory", "16",
                 "--set", "deepspeed=", "--set", "gradient_checkpointing=false"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 2
    assert "does not fit in 16 GB" in out
    assert "gradient_checkpointing: true" in out
    assert "no DeepSpeed: fp32 masters + grads + Adam (16 B), frozen bf16" in out


def eval_args(tokens, model, *, gpus=1, batch=1, **extra):
    options = {"peak_tflops": 1e-6, "mfu": 1.0, "memory_bandwidth": 1e-3, "mbu": 1.0, "dtype": "fp32"}
    options.update(extra)
    return plan_argparse.Namespace(
        eval=str(tokens), model=str(model), gpus=gpus, gpu_memory=80.0, batch_size=batch, max_new_tokens=None,
        overhead_gb=0.0, **options,
    )  # fmt: skip


@pytest.fixture
def tokens_file(tmp_path, tiny_model_dir):
    path = tmp_path / "tokens.json"
    task = {"samples": 2, "unreadable": 0, "max_new_tokens": 5, "text_tokens": [10, 20], "image_tokens": [4, 4],
            "patches": [16, 16]}  # fmt: skip
    path.write_text(json.dumps({"model": str(tiny_model_dir), "tasks": {"samdata": task}}))
    return path


def test_eval_plan_time_and_memory(tokens_file, tiny_model_dir):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    text, vision = config.text_config, config.vision_config
    one = make_eval_plan(eval_args(tokens_file, tiny_model_dir))
    params = sum(p.numel() for p in AutoModelForImageTextToText.from_config(config).parameters())
    llm = params - sum(p.numel() for n, p in AutoModelForImageTextToText.from_config(config).named_parameters()
                       if "visual" in n)  # fmt: skip
    # 1 MFLOP/s and 1 MB/s: the plan's seconds are the FLOPs / 1e6 plus the bytes read while decoding / 1e6.
    kv = 2 * text.num_hidden_layers * text.num_key_value_heads * (text.hidden_size // text.num_attention_heads) * 4
    flops = sum(2 * llm * (p + 5) + 4 * text.num_hidden_layers * text.hidden_size * (p + 5) ** 2
                + 2 * (params - llm) * 16 + 4 * vision.depth * vision.embed_dim * 16**2 for p in (14, 24))  # fmt: skip
    decoded = sum(5 * (params * 4 + kv * (p + 2.5)) for p in (14, 24))
    assert one.seconds == pytest.approx(flops / 1e6 + decoded / 1e6)
    # Data parallel: every term spread over the GPUs. A batch reads the weights once per step for all its rows.
    assert make_eval_plan(eval_args(tokens_file, tiny_model_dir, gpus=4)).seconds == pytest.approx(one.seconds / 4)
    two = make_eval_plan(eval_args(tokens_file, tiny_model_dir, batch=2))
    assert one.seconds - two.seconds == pytest.approx(2 * 5 * params * 4 / 2 / 1e6)
    # Memory: fp32 weights + the KV cache of a batch at the longest sample (24 + 5 tokens) + activations.
    assert "KV cache 0.0 (batch 2 x 29 tokens)" in "\n".join(two.lines)
    assert two.memory_gib - one.memory_gib == pytest.approx((29 * kv + 4 * 29 * 2 * text.intermediate_size) / GIB)


def test_eval_plan_cli(tokens_file, tiny_model_dir, tmp_path, capsys):
    assert main(["--eval", str(tokens_file), "--gpus", "4"]) == 0
    out = capsys.readouterr().out
    assert "samdata                           2 samples, prompt      19 tokens on average, 5 new" in out
    with pytest.raises(SystemExit):
        main(["--eval", str(tokens_file), "--config", "configs/sft/samchat_distill.yaml"])
    assert "give a recipe (--config) or an evaluation (--eval TOKENS.json)" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[]")
    assert main(["--eval", str(tmp_path / "bad.json")]) == 1
    assert f"error: {tmp_path / 'bad.json'}: not a python -m eval.tokens file" in capsys.readouterr().out
