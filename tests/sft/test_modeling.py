"""sft.modeling / sft.trainer: the trainable flags do what they say (SPEC 3, 7.4), LoRA targets, and the optimizer's
per-module groups (vision tower / merger / rest x decay / no decay, SPEC 3)."""

from pathlib import Path

import pytest
import torch

from sft.configs import SFTModelArguments, SFTTrainingArguments
from sft.modeling import build_model, lora_targets, param_groups, part_of_parameters, trainable_summary


def model_args(model_dir, **kwargs):
    return SFTModelArguments(model_name_or_path=str(model_dir), **kwargs)


def training_args(tmp_path, **kwargs):
    return SFTTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", **kwargs)


def trainable_parts(model):
    return {part for part, count in trainable_summary(model).items() if count}


@pytest.mark.parametrize(
    "flags, parts",
    [
        ({}, {"vision", "merger", "llm"}),
        ({"freeze_vision_tower": True}, {"merger", "llm"}),
        ({"freeze_vision_tower": True, "tune_merger": False}, {"llm"}),
        ({"freeze_llm": True}, {"vision", "merger"}),
        ({"freeze_llm": True, "freeze_vision_tower": True}, {"merger"}),
        ({"tune_merger": False}, {"vision", "llm"}),  # the merger flag wins inside an unfrozen tower
    ],
)
def test_full_finetuning_flags(tiny_model_dir, tmp_path, flags, parts):
    model = build_model(model_args(tiny_model_dir, **flags), training_args(tmp_path))
    assert trainable_parts(model) == parts
    # Within a part, all or nothing.
    for name, parameter in model.named_parameters():
        assert parameter.requires_grad == (part_of_parameters(model)[name] in parts), name


LORA = {"use_peft": True, "freeze_llm": True, "lora_r": 4, "lora_alpha": 8}


@pytest.mark.parametrize(
    "flags, lora_in_tower, full_parts",
    [
        ({**LORA, "freeze_vision_tower": True}, False, {"merger"}),
        ({**LORA, "freeze_vision_tower": True, "tune_merger": False}, False, set()),
        ({**LORA}, False, {"vision", "merger"}),  # SPEC 7.4: the tower still trains when not frozen
        ({**LORA, "freeze_vision_tower": True, "vision_lora": True}, True, {"merger"}),
    ],
)
def test_lora_flags(tiny_model_dir, tmp_path, flags, lora_in_tower, full_parts):
    model = build_model(model_args(tiny_model_dir, **flags), training_args(tmp_path))
    parts = part_of_parameters(model)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    lora = [name for name in trainable if "lora_" in name]
    full = [name for name in trainable if "lora_" not in name]
    assert any(parts[name] == "llm" for name in lora)
    assert any(parts[name] == "vision" for name in lora) == lora_in_tower
    assert not any(parts[name] == "merger" for name in lora) or not flags.get("tune_merger", True)
    assert {parts[name] for name in full} == full_parts
    assert all("modules_to_save" in name for name in full)  # saved with the adapter, merged by merge_lora
    # The language model's own weights and the LM head never train under LoRA.
    assert not any(parts[name] == "llm" for name in full)


def test_dora_is_passed_to_peft(tiny_model_dir, tmp_path):
    model = build_model(model_args(tiny_model_dir, **LORA, use_dora=True), training_args(tmp_path))
    assert any("lora_magnitude_vector" in name for name, _ in model.named_parameters())


def test_lora_targets_rule(tiny_model_dir):
    from common.modeling import load_model

    model = load_model(tiny_model_dir)
    targets = lora_targets(model, model_args(tiny_model_dir, **LORA))
    assert targets and all(t.startswith("model.language_model.") for t in targets)
    assert not any("embed_tokens" in t or "lm_head" in t for t in targets)  # upstream's default exclusions
    last_two = lora_targets(model, model_args(tiny_model_dir, **LORA, num_lora_modules=2))
    assert last_two == targets[-2:]
    with_vision = lora_targets(model, model_args(tiny_model_dir, **LORA, vision_lora=True, freeze_vision_tower=True))
    assert any(t.startswith("model.visual.blocks.") for t in with_vision)
    assert not any(t.startswith("model.visual.merger.") for t in with_vision)  # tune_merger trains it fully


def test_qlora_needs_cuda(tiny_model_dir, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("GPU present")
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        build_model(model_args(tiny_model_dir, **LORA, load_in_4bit=True), training_args(tmp_path))


def test_param_groups(tiny_model_dir, tmp_path):
    model = build_model(model_args(tiny_model_dir), training_args(tmp_path))
    decay = {n for n, _ in model.named_parameters() if not n.endswith("bias") and "norm" not in n and "ln_q" not in n}
    groups = param_groups(model, decay_names=decay, learning_rate=1e-3, vision_lr=2e-4, merger_lr=5e-4,
                          weight_decay=0.1)  # fmt: skip
    summary = {g["name"]: (g["lr"], g["weight_decay"]) for g in groups}
    assert summary == {
        "vision/decay": (2e-4, 0.1),
        "vision/no_decay": (2e-4, 0.0),
        "merger/decay": (5e-4, 0.1),
        "merger/no_decay": (5e-4, 0.0),
        "llm/decay": (1e-3, 0.1),
        "llm/no_decay": (1e-3, 0.0),
    }
    names = {id(p): n for n, p in model.named_parameters()}
    grouped = {names[id(p)]: g["name"] for g in groups for p in g["params"]}
    assert len(grouped) == sum(1 for _ in model.parameters())  # every parameter exactly once
    assert grouped["model.visual.merger.ln_q.weight"] == "merger/no_decay"
    assert grouped["model.visual.blocks.0.attn.qkv.weight"] == "vision/decay"
    assert grouped["model.visual.blocks.0.attn.qkv.bias"] == "vision/no_decay"
    assert grouped["model.language_model.layers.0.input_layernorm.weight"] == "llm/no_decay"


@pytest.mark.parametrize(
    "rates, expected",
    [
        ({"vision_lr": 2e-6, "merger_lr": 1e-5}, {"vision": 2e-6, "merger": 1e-5, "llm": 3e-5}),
        ({}, {"vision": 3e-5, "merger": 3e-5, "llm": 3e-5}),  # unset rates follow learning_rate
    ],
)
def test_trainer_optimizer_carries_the_rates(tiny_model_dir, synthetic_dir, tmp_path, rates, expected):
    from common.modeling import load_processor
    from sft.data import SFTCollator, SFTDataset
    from sft.trainer import PerModuleLRTrainer

    args = training_args(tmp_path, learning_rate=3e-5, weight_decay=0.1, **rates)
    model = build_model(model_args(tiny_model_dir), args)
    processor = load_processor(tiny_model_dir)
    from common.data import read_llava

    folder = synthetic_dir / "samdata" / "train"
    dataset = SFTDataset(read_llava(folder / "sam_300_inst.json", folder).records, processor)
    trainer = PerModuleLRTrainer(model=model, args=args, train_dataset=dataset,
                         data_collator=SFTCollator.from_processor(processor), processing_class=processor)  # fmt: skip
    optimizer = trainer.create_optimizer()
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs == {f"{part}/{kind}": expected[part] for part in expected for kind in ("decay", "no_decay")}
    assert {g["name"]: g["weight_decay"] for g in optimizer.param_groups}["llm/no_decay"] == 0.0


def test_length_grouped_sampler_uses_measured_lengths(tiny_model_dir, synthetic_dir, tmp_path):
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from common.data import read_llava
    from common.modeling import load_processor
    from sft.data import SFTCollator, SFTDataset
    from sft.trainer import PerModuleLRTrainer

    folder = synthetic_dir / "vhm"
    processor = load_processor(tiny_model_dir)
    dataset = SFTDataset(read_llava(folder / "list_sft_oversampled.json", folder).records, processor)
    args = training_args(tmp_path, train_sampling_strategy="group_by_length", per_device_train_batch_size=4)
    trainer = PerModuleLRTrainer(model=build_model(model_args(tiny_model_dir), args), args=args, train_dataset=dataset,
                         data_collator=SFTCollator.from_processor(processor), processing_class=processor)  # fmt: skip
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler) and sampler.lengths == dataset.lengths
    assert sorted(sampler) == list(range(len(dataset)))


def _sha(names):
    import hashlib

    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


DEMO = ["--config", str(Path(__file__).resolve().parents[2] / "configs/sft/demo.yaml"), "--report_to", "none"]
VISION_LORA_OLD = ["--lora_enable", "true", "--freeze_llm", "true", "--freeze_vision_tower", "true", "--vision_lora",
                   "true", "--lora_rank", "8", "--lora_alpha", "16", "--num_lora_modules", "12",
                   "--lora_namespan_exclude", "lm_head", "embed_tokens", "qkv"]  # fmt: skip
VISION_LORA_NEW = ["--use_peft", "true", "--freeze_llm", "true", "--freeze_vision_tower", "true", "--vision_lora",
                   "true", "--lora_r", "8", "--lora_alpha", "16", "--num_lora_modules", "12",
                   "--lora_exclude_modules", "lm_head", "embed_tokens", "qkv"]  # fmt: skip


@pytest.mark.parametrize(
    "flags, trainable, trainable_sha, lora",
    [
        # the demo recipe: every weight (57 tensors)
        ([], 57, "64b65504bfe8289f", None),
        # vision LoRA on the last 12 targets, merger trained fully, in 2U1's names and in the canonical ones
        (VISION_LORA_OLD, 30, "a6d90e05179a6fcb", (8, 16, False, 12, "a8b62a5a68314903", ["model.visual.merger"])),
        (VISION_LORA_NEW, 30, "a6d90e05179a6fcb", (8, 16, False, 12, "a8b62a5a68314903", ["model.visual.merger"])),
        # DoRA with 2U1's default rank 64 / alpha 16; the unfrozen tower trains fully beside the adapters
        (["--lora_enable", "true", "--freeze_llm", "true", "--use_dora", "true"], 73, "6ed200a51b4115ce",
         (64, 16, True, 14, "e7279d3ceb0d4d2f",
          ["model.visual.blocks.0", "model.visual.blocks.1", "model.visual.merger", "model.visual.patch_embed"])),
    ],
)  # fmt: skip
def test_effective_trainable_set_is_the_one_before_the_shared_vocabulary(
    tiny_model_dir, tmp_path, flags, trainable, trainable_sha, lora
):
    # Pinned from the code before issue 13's vocabulary change (2U1's own ModelArguments), same tiny model.
    from common.modeling import load_model
    from sft.modeling import lora_config
    from sft.train import build_parser

    argv = [*DEMO, "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path), *flags]
    _, margs, targs = build_parser().parse_args_and_config(argv)
    names = [name for name, p in build_model(margs, targs).named_parameters() if p.requires_grad]
    assert (len(names), _sha(names)) == (trainable, trainable_sha)
    if lora is not None:
        config = lora_config(load_model(str(tiny_model_dir), dtype="float32"), margs)
        targets = config.target_modules
        assert (config.r, config.lora_alpha, config.use_dora, len(targets), _sha(targets)) == lora[:5]
        assert sorted(config.modules_to_save) == lora[5]
