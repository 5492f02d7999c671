"""One optimizer step of grpo.train's trainer, per paper recipe, against an independent reference of the released
trainers' step (issue 24; SPEC 7.13-7.20).

The trainer side is the project's own: the recipe YAML through grpo.train's parser (only sizes overridden: the tiny
model in float32 on the CPU, short completions, one step, no DeepSpeed or wandb), grpo.train.build_model and
ResumableGRPOTrainer. Sampling is out of the way: the completions are fixed token sequences handed to TRL in place
of generate(), and the rewards are fixed per completion, so everything after generation is TRL 1.16's own code.

The reference is written here from a reading of the released trainers (never their code):
- SAMChat / TinyRS (open-r1-multimodal fork, grpo/src/open_r1/trainer/grpo_trainer.py, TRL 0.18.2 GRPOConfig and
  transformers 4.50 Trainer): each GPU takes one prompt and its G completions (padded on the right, no attention
  mask); reward = sum of the reward functions; advantage = (r - group mean) / (unbiased group std + 1e-4); the loss
  per token is -(exp(logp - logp.detach()) * A - beta * k3), k3 = exp(ref - logp) - (ref - logp) - 1 with a plain
  (not importance-weighted) gradient; the mask runs up to and including the first <|im_end|>; per-sequence token
  mean, then the mean over the GPU's sequences; DDP averages the GPUs' gradients. Then clipping at max_grad_norm and
  torch AdamW (betas 0.9 / 0.999, eps 1e-8, weight decay 0) at the linear schedule's first rate.
- GeoVLM-R1 (VLM-R1, src/open-r1-multimodal/src/open_r1/trainer/grpo_trainer.py, transformers 4.49): the same with
  the clipped surrogate -min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) (inactive on-policy: one update per batch)
  and the attention mask passed.

The paper ran 4 GPUs; here one process with 4 x the recipe's gradient accumulation takes the same step (TRL splits
the 16 completions into 4 micro-batches of 4, and the mean over equal micro-batches is DDP's mean over GPUs). The
policy starts drifted from the checkpoint (the reference model), as some steps of training leave it: at the very
first step the KL term and its gradient are exactly zero, whatever their form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset
from transformers import GenerationConfig, TrainerCallback

from common.modeling import load_model, load_processor
from grpo.stages import load_plan, plan_stages, stage_argv
from grpo.train import ResumableGRPOTrainer, build_model, parse_args

GPUS = 4  # the paper's GPUs per step (SPEC 4)
MAX_COMPLETION = 8
# Four prompts: one per GPU of the paper's step.
QUESTIONS = ["Is there a missile site?", "What is in the image?", "Count the ships.", "Describe the airport."]
# Rewards of each group's G = 4 completions, as (format, accuracy) pairs: mixed groups, and one whose completions
# all score alike (zero std: advantage 0 in both, the + 1e-4 at work).
REWARDS = [
    [(1.0, 1.0), (1.0, 0.0), (0.0, 0.0), (1.0, 0.0)],
    [(0.0, 0.0), (1.0, 1.0), (1.0, 1.0), (0.0, 1.0)],
    [(1.0, 0.0), (1.0, 0.0), (1.0, 0.0), (1.0, 0.0)],
    [(0.0, 1.0), (0.0, 0.0), (1.0, 1.0), (1.0, 0.0)],
]
# Completion lengths per group; None: truncated at max_completion_length (no end of turn).
LENGTHS = [[2, 5, None, 3], [6, 1, 4, None], [3, 3, 7, 2], [None, 2, 5, 4]]

# The paper recipes' objective values (SPEC 4), which the reference takes as given.
BETA, LR, MAX_GRAD_NORM, EPSILON = 0.001, 1e-6, 1.0, 0.2
DRIFT = 0.02  # standard deviation of the noise that stands for earlier training (the tiny model's init is 0.02)

SIZES = [
    "--dtype", "float32", "--bf16", "false", "--use_cpu", "true", "--deepspeed", "",
    "--max_completion_length", str(MAX_COMPLETION), "--max_steps", "1",
    "--report_to", "none", "--log_completions", "false", "--logging_steps", "1",
]  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny model's matrices are too small to share, and on a loaded host two threads
    contending for the cores made each step 30 x slower (measured: 0.95 s against 0.03 s per forward and backward)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def recipe_argv(repo_root, name, tiny_model_dir, output_dir):
    if name == "geovlm_stage":
        # A GeoVLM-R1 stage as grpo.stages resolves it: the plan's first stage, its recipe and its overrides.
        plan_path = str(repo_root / "configs" / "grpo" / "geovlm_stages.yaml")
        stage = plan_stages(load_plan(plan_path), str(output_dir))[0]
        return stage_argv(stage, str(tiny_model_dir), "unused_data_root", [])
    recipe = str(repo_root / "configs" / "grpo" / f"{name}.yaml")
    return ["--config", recipe, "--model_name_or_path", str(tiny_model_dir)]


def resolve(repo_root, name, tiny_model_dir, output_dir, *extra):
    argv = recipe_argv(repo_root, name, tiny_model_dir, output_dir)
    # The recipe's own accumulation, multiplied by the paper's GPUs: one process takes their step.
    recipe = yaml.safe_load(Path(argv[argv.index("--config") + 1]).read_text())
    accumulation = recipe["gradient_accumulation_steps"] * GPUS
    return parse_args(
        [*argv, *SIZES, "--output_dir", str(output_dir), "--gradient_accumulation_steps", str(accumulation), *extra]
    )


def fixed_completions(tokenizer, end="<|im_end|>"):
    """Per group, G token sequences: a few ordinary tokens, then `end` unless truncated."""
    generator = torch.Generator().manual_seed(0)
    ordinary = [i for i in range(len(tokenizer)) if i not in set(tokenizer.all_special_ids)]
    groups = []
    for lengths in LENGTHS:
        group = []
        for length in lengths:
            size = MAX_COMPLETION if length is None else length
            picks = torch.randint(len(ordinary), (size,), generator=generator).tolist()
            ids = [ordinary[i] for i in picks]
            group.append(ids if length is None else [*ids, tokenizer.convert_tokens_to_ids(end)])
        groups.append(group)
    return groups


class Rollouts:
    """Stands in for TRL's generate(): each prompt's completions in order, and the prompt ids TRL tokenised."""

    def __init__(self, completions):
        self.completions = completions
        self.prompt_ids: dict[int, list[int]] = {}
        self.by_prompt: dict[tuple, int] = {}
        self.taken = [0] * len(completions)

    def __call__(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        out = []
        for ids in prompt_ids:
            key = tuple(ids)
            if key not in self.by_prompt:
                self.by_prompt[key] = len(self.by_prompt)
                self.prompt_ids[self.by_prompt[key]] = list(ids)
            group = self.by_prompt[key]
            out.append(list(self.completions[group][self.taken[group]]))
            self.taken[group] += 1
        return out, None


def reward_table(completions):
    table = {}
    for group, rewards in zip(completions, REWARDS):
        for ids, pair in zip(group, rewards):
            table[tuple(ids)] = pair
    return table


def make_reward(table, column, name):
    def reward(completion_ids, **_):
        return [table[tuple(ids)][column] for ids in completion_ids]

    reward.__name__ = name
    return reward


def drift(model):
    """Move the policy away from the start checkpoint, as some steps of training would: TRL loads the reference model
    from the checkpoint, and at the first step (policy = reference) the KL term and its gradient are exactly zero,
    so the KL's form would go untested."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(DRIFT * torch.randn(p.shape, generator=generator, dtype=p.dtype))


class GradientProbe(TrainerCallback):
    """The gradients as the optimizer receives them (after clipping)."""

    def __init__(self):
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def trainer_step(script, training, model_args, tiny_model_dir, completions_for):
    """One step of grpo.train's trainer: (rollouts with the prompt ids by group, completions, gradients, weights
    before and after, grad_norm, the trainer). The fixed rollouts replace generation itself (and with it
    ResumableGRPOTrainer's autocast wrapper around it, which float32 weights never enter)."""
    processor = load_processor(tiny_model_dir, padding_side="left")
    completions = completions_for(processor.tokenizer)
    model, peft_config = build_model(model_args, training)
    drift(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    table = reward_table(completions)
    rewards = [make_reward(table, 0, "fixed_format"), make_reward(table, 1, "fixed_accuracy")]
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": q}]} for q in QUESTIONS])
    probe = GradientProbe()
    trainer = ResumableGRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=training,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=peft_config,
        callbacks=[probe],
    )
    rollouts = Rollouts(completions)
    trainer._generate_single_turn = rollouts
    trainer.train()
    after = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    grad_norm = next(entry["grad_norm"] for entry in trainer.state.log_history if "grad_norm" in entry)
    assert sorted(rollouts.by_prompt.values()) == list(range(len(QUESTIONS))), "one step must see every prompt"
    return rollouts, completions, probe.grads, before, after, grad_norm, trainer


# ---- the reference: the released step, from a reading of the released trainers ------------------------------------


def completion_logps(model, prompt, completions, pad_id, *, attention_mask: bool):
    """Per-token log-probabilities of each completion (padded on the right), and the padded ids."""
    width = max(len(c) for c in completions)
    padded = torch.tensor([c + [pad_id] * (width - len(c)) for c in completions])
    input_ids = torch.cat([torch.tensor(prompt).expand(len(completions), -1), padded], dim=1)
    kwargs = {}
    if attention_mask:  # VLM-R1 passes prompt mask + completion mask; the open-r1-multimodal fork passes none
        kwargs["attention_mask"] = torch.ones_like(input_ids)
    logits = model(input_ids=input_ids, **kwargs).logits[:, len(prompt) - 1 : -1]
    logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, padded.unsqueeze(-1)).squeeze(-1)
    return logps, padded


@dataclass(frozen=True)
class Objective:
    """The reference's knobs. The defaults are the released trainers'; the others stand for the named ablations."""

    clipped: bool = False  # VLM-R1: -min(ratio * A, clip(ratio) * A); the fork: -ratio * A
    attention_mask: bool = False  # VLM-R1 passes it; the fork passes none
    sequence_ratio: bool = False  # GSPO: one ratio per sequence, exp(mean of the token log-ratios)
    normalise: str = "sequence"  # "sequence": token mean per sequence, then mean; "token": over all tokens (DAPO);
    # "constant": over sequences x max_completion_length (Dr. GRPO)
    scale: bool = True  # divide the advantages by the group std + 1e-4 (Dr. GRPO: no)
    mask_at_endoftext: bool = False  # TRL: the mask also ends at <|endoftext|>; released: at <|im_end|> only


RELEASED = Objective()
VLM_R1 = Objective(clipped=True, attention_mask=True)


def released_terms(policy, ref, prompt, completions, rewards, *, beta, eos_id, pad_id, objective):
    """One GPU's per-token loss and mask for one prompt's G completions."""
    logps, padded = completion_logps(policy, prompt, completions, pad_id, attention_mask=objective.attention_mask)
    with torch.no_grad():
        ref_logps, _ = completion_logps(ref, prompt, completions, pad_id, attention_mask=objective.attention_mask)
    # Up to and including the first <|im_end|>; a completion without one keeps every position, its group's right
    # padding included (<|endoftext|> pads; SPEC 7.19).
    is_eos = padded == eos_id
    if objective.mask_at_endoftext:
        is_eos |= padded == pad_id
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], padded.size(1), dtype=int))
    mask = (torch.arange(padded.size(1)).unsqueeze(0) <= first.unsqueeze(1)).float()
    total = torch.tensor([sum(pair) for pair in rewards])
    advantages = total - total.mean()
    if objective.scale:
        advantages = advantages / (total.std() + 1e-4)  # torch.std: unbiased
    advantages = advantages.unsqueeze(1)
    log_ratio = logps - logps.detach()
    if objective.sequence_ratio:
        log_ratio = ((log_ratio * mask).sum(1) / mask.sum(1)).unsqueeze(1)
    ratio = torch.exp(log_ratio)
    surrogate = ratio * advantages
    if objective.clipped:
        surrogate = torch.min(surrogate, torch.clamp(ratio, 1 - EPSILON, 1 + EPSILON) * advantages)
    k3 = torch.exp(ref_logps - logps) - (ref_logps - logps) - 1
    return -(surrogate - beta * k3), mask


def reference_step(tiny_model_dir, weights, prompts, completions, *, eos_id, pad_id, objective=RELEASED):
    policy = load_model(tiny_model_dir, dtype="float32")
    with torch.no_grad():  # the trainer's starting weights (named_parameters: tied weights once)
        for n, p in policy.named_parameters():
            p.copy_(weights[n])
    ref = load_model(tiny_model_dir, dtype="float32")
    policy.train()
    ref.eval()
    terms = [
        released_terms(policy, ref, prompts[g], completions[g], REWARDS[g], beta=BETA, eos_id=eos_id, pad_id=pad_id,
                       objective=objective)
        for g in range(len(prompts))
    ]  # fmt: skip
    if objective.normalise == "sequence":
        # Each GPU's loss over its one prompt; DDP's gradient is the mean of the GPUs' gradients.
        loss = torch.stack([((t * m).sum(1) / m.sum(1)).mean() for t, m in terms]).mean()
    elif objective.normalise == "token":
        loss = sum((t * m).sum() for t, m in terms) / sum(m.sum() for _, m in terms)
    else:
        loss = sum((t * m).sum() for t, m in terms) / (sum(len(m) for _, m in terms) * MAX_COMPLETION)
    loss.backward()
    params = [(n, p) for n, p in policy.named_parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for _, p in params]))
    clip = min(1.0, MAX_GRAD_NORM / (norm.item() + 1e-6))
    grads = {n: p.grad * clip for n, p in params}
    initial = {n: p.detach().clone() for n, p in policy.named_parameters()}
    return grads, released_adamw(initial, grads, LR), norm.item()


def released_adamw(weights, grads, lr, total_steps=1):
    """The released optimizer's first step on these gradients: transformers 4.49 / 4.50's default `adamw_torch`,
    i.e. torch.optim.AdamW (betas 0.9 / 0.999, eps 1e-8, weight decay 0, not fused), at the linear schedule's rate
    for step 0 without warm-up: (total - 0) / total of the learning rate."""
    params = {n: torch.nn.Parameter(w.clone()) for n, w in weights.items() if n in grads}
    for n, p in params.items():
        p.grad = grads[n].clone()
    optimizer = torch.optim.AdamW(list(params.values()), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (total_steps - step) / total_steps)
    optimizer.step()
    schedule.step()
    return {n: params[n].detach() if n in params else w for n, w in weights.items()}


def relative_l2(a: dict, b: dict, names) -> float:
    diff = math.sqrt(sum(float((a[n] - b[n]).double().pow(2).sum()) for n in names))
    base = math.sqrt(sum(float(b[n].double().pow(2).sum()) for n in names))
    return diff / base


def compare(
    repo_root, tiny_model_dir, tmp_path, name, *overrides, objectives=(RELEASED,), completions=fixed_completions
):
    """The trainer's step against the reference's under each objective: a list of Errors (gradient, optimizer,
    weights relative L2, and the gradient norms), and the trainer."""
    script, training, model_args = resolve(repo_root, name, tiny_model_dir, tmp_path / "out", *overrides)
    rollouts, completions, grads, before, after, grad_norm, trainer = trainer_step(
        script, training, model_args, tiny_model_dir, completions
    )
    tokenizer = load_processor(tiny_model_dir).tokenizer
    prompts = [rollouts.prompt_ids[g] for g in range(len(QUESTIONS))]
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    # The optimizer apart: AdamW's first step divides each gradient element by its own magnitude, so elements near
    # eps amplify a 1e-7 gradient difference; the released optimizer applied to the trainer's own gradients must
    # give the trainer's update.
    updates = {n: after[n] - before[n] for n in grads}
    released_updates = {n: w - before[n] for n, w in released_adamw(before, grads, LR).items() if n in grads}
    optimizer_error = relative_l2(updates, released_updates, grads)
    results = []
    for objective in objectives:
        ref_grads, ref_after, ref_norm = reference_step(
            tiny_model_dir, before, prompts, completions, eos_id=eos_id, pad_id=tokenizer.pad_token_id,
            objective=objective,
        )  # fmt: skip
        assert sorted(grads) == sorted(ref_grads)
        grad_error = relative_l2(grads, ref_grads, ref_grads)
        weight_error = relative_l2(after, ref_after, ref_after)
        results.append(Errors(grad_error, optimizer_error, weight_error, grad_norm, ref_norm))
    return results, trainer


@dataclass(frozen=True)
class Errors:
    grad: float
    optimizer: float
    weights: float
    grad_norm: float
    ref_grad_norm: float


# Qwen2-VL-2B-Instruct's generation_config.json (what SAMChat-Zero started from; SFT checkpoints copy it).
INSTRUCT_GENERATION = {"do_sample": True, "temperature": 0.01, "top_k": 1, "top_p": 0.001, "repetition_penalty": 1.0}


def sampled_with(trainer) -> dict:
    """What generate() samples with for this trainer on a checkpoint that ships Qwen2-VL-2B-Instruct's generation
    config: transformers 5.24 fills only unset values from the checkpoint's."""
    model = trainer.model
    saved = model.generation_config
    model.generation_config = GenerationConfig(**saved.to_dict() | INSTRUCT_GENERATION)
    try:
        config, _ = model._prepare_generation_config(trainer.generation_config)
    finally:
        model.generation_config = saved
    return {key: getattr(config, key) for key in INSTRUCT_GENERATION}


PAPER = ["samchat_r1", "samchat_zero", "tinyrs_r1", "geovlm_stage"]


@pytest.mark.parametrize("name", PAPER)
def test_one_step_equals_the_released_step(repo_root, tiny_model_dir, tmp_path, name):
    objective = VLM_R1 if name == "geovlm_stage" else RELEASED
    (errors,), trainer = compare(repo_root, tiny_model_dir, tmp_path, name, objectives=(objective,))
    # Measured: gradient 3.2e-7, optimizer 0, weights 4.4e-10 (float32 rounding: TRL's selective log-softmax and
    # its batching against the reference's plain one).
    assert errors.grad < 1e-6
    assert errors.grad_norm == pytest.approx(errors.ref_grad_norm, rel=1e-6)
    assert errors.optimizer < 1e-6
    assert errors.weights < 1e-6
    # Sampling as released (transformers 4.49 / 4.50 GenerationConfig defaults; SPEC 7.14).
    assert sampled_with(trainer) == {"do_sample": True, "temperature": 1.0, "top_k": 50, "top_p": 1.0,
                                     "repetition_penalty": 1.0}  # fmt: skip
    assert trainer.args.vllm_importance_sampling_correction is False  # SPEC 7.16


def test_trl_kl_gradient_changes_the_step(repo_root, tiny_model_dir, tmp_path):
    # SPEC 7.13: TRL 1.16's default, the KL weighed by the importance ratio, is a field away from the released step and
    # the step tells them apart (measured 8.6e-5, against 3e-7 for the released setting). The other newer defaults
    # are seen in the equality test (batch, sampling, vLLM correction) or are rounding only (fused AdamW, SPEC 7.17).
    (errors,), _ = compare(repo_root, tiny_model_dir, tmp_path, "samchat_r1", "--use_bias_correction_kl", "true")
    assert errors.grad > 1e-5


# The newer objectives as named ablations (README "GRPO objectives"): each against the reference changed in exactly
# the named way, and against the released step.
ABLATIONS = {
    # GSPO: one importance ratio per sequence. On-policy (ratio 1, one update per batch) with the per-sequence token
    # mean its gradient is the released one; it differs only off-policy, where it clips whole sequences.
    "gspo": (["--importance_sampling_level", "sequence"], Objective(sequence_ratio=True), 0.0),
    # DAPO: token-level normalisation over the whole step; clip-higher (epsilon_high 0.28) acts only off-policy.
    "dapo": (["--loss_type", "dapo", "--epsilon_high", "0.28"], Objective(normalise="token"), 0.3),
    # Dr. GRPO: no length and no std normalisation (sequences x max_completion_length).
    "dr_grpo": (["--loss_type", "dr_grpo", "--scale_rewards", "none"], Objective(normalise="constant", scale=False), 0.3),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_changes_the_step_as_named(repo_root, tiny_model_dir, tmp_path, name):
    overrides, objective, away_from_released = ABLATIONS[name]
    (named, released), _ = compare(
        repo_root, tiny_model_dir, tmp_path, "samchat_r1", *overrides, objectives=(objective, RELEASED)
    )
    assert named.grad < 1e-6
    if away_from_released:
        assert released.grad > away_from_released
    else:
        assert released.grad < 1e-6


def test_completions_ending_in_endoftext_keep_trl_mask(repo_root, tiny_model_dir, tmp_path):
    # SPEC 7.19: the released mask ends at <|im_end|> only, so a completion that stopped at <|endoftext|> (also the
    # pad token) keeps its group's padding in the loss; TRL's ends at the first of either. The project keeps TRL's.
    def ending_in_endoftext(tokenizer):
        return fixed_completions(tokenizer, end="<|endoftext|>")

    (trl_mask, released), _ = compare(
        repo_root, tiny_model_dir, tmp_path, "samchat_r1", completions=ending_in_endoftext,
        objectives=(Objective(mask_at_endoftext=True), RELEASED),
    )  # fmt: skip
    assert trl_mask.grad < 1e-6
    assert released.grad > 1e-2
