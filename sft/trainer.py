"""`PerModuleLRTrainer`: `transformers.Trainer` plus the things it lacks for this recipe; everything else is stock.
(Named for its main addition, not `SFTTrainer`: that is TRL's class, which this is not.)

Why transformers.Trainer and not trl.SFTTrainer: SFTTrainer only accepts a `datasets.Dataset`, and a Dataset with
an on-the-fly transform cannot hand Trainer its length column without running the transform (decoding every
image); its own vision-data path also cannot express the upstream prompt (SPEC 3) or per-segment masking. Our
dataset and collator do the SFT-specific work, so TRL would add nothing but its config fields.

The gaps filled here:
1. `create_optimizer`: per-module learning rates (vision tower / merger / rest, each with and without weight decay);
   transformers only knows one rate with a decay / no-decay split. The optimizer is transformers' own (torch AdamW),
   also under ZeRO optimizer offload: there accelerate swaps it for DeepSpeed's CPU Adam over the same groups.
2. `_get_train_sampler`: length-grouped batching from the lengths the dataset measured before training;
   transformers reads lengths only from a `datasets.Dataset` column and otherwise encodes every sample to get them.
3. resuming a full model: `common.training.FullCheckpointResume` (transformers#43701).
4. the released SFT step (SPEC 7.21-7.23), by three switches of SFTTrainingArguments: `loss_normalization
   micro_batch` (transformers 5 normalises by the tokens of all accumulated micro-batches whenever the model's forward
   takes loss kwargs, and has no switch for the older per-micro-batch mean), `weight_decay_exemptions` (transformers'
   decay rule is fixed in `get_decay_parameter_names`) and `warmup_shape deepspeed_log` (transformers has no
   logarithmic warm-up).
5. `compute_loss` with `padding_free`: transformers' Qwen2-VL computes M-RoPE positions one sequence per row, so for
   a packed row (several samples, `seq_lengths` from the collator) the positions are computed here per sample with
   the model's own `get_rope_index` (`sft.data.packed_position_ids`); masking and the loss are then transformers'.
"""

from __future__ import annotations

import logging
import math
from functools import partial

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler, get_parameter_names

from common.training import FullCheckpointResume
from sft.data import padding_free_inputs, rope_index_of
from sft.modeling import param_groups

logger = logging.getLogger(__name__)


def deepspeed_log_warmup(step: int, *, warmup: int) -> float:
    """The lr factor of DeepSpeed 0.15.4's WarmupLR (warmup_type log, warmup_min_lr 0) as the released SFT run
    stepped it (deepspeed/runtime/lr_schedules.py:655-712): it starts at warmup_min_lr and its first step() evaluates
    iteration 0, whose factor ln(1) / ln(W) is 0 too, so optimizer steps 1 and 2 run at lr 0; `step` here is
    LambdaLR's count of finished optimizer steps, so iteration step - 1 has factor ln(step) / ln(W) up to 1."""
    return min(1.0, math.log(step) / math.log(warmup)) if step > 0 else 0.0


class PerModuleLRTrainer(FullCheckpointResume, Trainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.args.loss_normalization == "micro_batch":
            # With this False, transformers 5 counts no num_items_in_batch, the model averages over its own
            # micro-batch, training_step divides by the accumulation steps and compute_loss does not scale by the
            # device count: transformers 4.49's path for a forward without loss kwargs (trainer.py:3732, 3754).
            self.model_accepts_loss_kwargs = False

    def decay_parameter_names(self, model: nn.Module) -> list[str]:
        """The trained weights that get weight decay, by `weight_decay_exemptions` (SPEC 7.22)."""
        exemptions = self.args.weight_decay_exemptions
        if exemptions == "none":
            return [name for name, _ in model.named_parameters()]
        if exemptions == "layernorm_biases":
            # transformers 4.49's ALL_LAYERNORM_LAYERS is [nn.LayerNorm]; 2U1's trainer then drops names with "bias".
            return [name for name in get_parameter_names(model, [nn.LayerNorm]) if "bias" not in name]
        return self.get_decay_parameter_names(model)

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        if self.optimizer is not None:
            return self.optimizer
        opt_model = self.model if model is None else model
        groups = param_groups(
            opt_model,
            decay_names=set(self.decay_parameter_names(opt_model)),
            learning_rate=self.args.learning_rate,
            vision_lr=self.args.vision_lr,
            merger_lr=self.args.merger_lr,
            weight_decay=self.args.weight_decay,
        )
        # A torch AdamW also under ZeRO optimizer offload, never a DeepSpeedCPUAdam built here: accelerate 1.15
        # (utils/deepspeed.py map_pytorch_optim_to_deepspeed, from Accelerator.prepare) rebuilds every client
        # optimizer as DeepSpeedCPUAdam over its param_groups, in AdamW mode only for a torch.optim.AdamW; a
        # DeepSpeedCPUAdam(adamw_mode=True) became adamw_mode=False, i.e. Adam with decay added to the gradient
        # (g + 0.1 w), 1.39 relative L2 from the released update (SPEC 7.24).
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(groups, **kwargs)
        logger.info("optimizer %s", type(self.optimizer).__name__)
        for group in self.optimizer.param_groups:
            logger.info(
                "optimizer group %s: %d tensors, lr %g, weight decay %g",
                group["name"],
                len(group["params"]),
                group["lr"],
                group["weight_decay"],
            )
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.args.warmup_shape != "deepspeed_log" or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        # WarmupLR's own floor of two warm-up steps (lr_schedules.py:668).
        warmup = max(2, self.args.get_warmup_steps(num_training_steps))
        self.lr_scheduler = LambdaLR(
            self.optimizer if optimizer is None else optimizer, partial(deepspeed_log_warmup, warmup=warmup)
        )
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def _get_train_sampler(self, train_dataset=None):
        dataset = self.train_dataset if train_dataset is None else train_dataset
        lengths = getattr(dataset, "lengths", None)
        if self.args.train_sampling_strategy == "group_by_length" and lengths is not None:
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=lengths
            )
        return super()._get_train_sampler(train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "seq_lengths" in inputs:
            inputs = padding_free_inputs(rope_index_of(self.model), inputs)
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
