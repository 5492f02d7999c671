"""Configuration of the GRPO stage, parsed by `trl.TrlParser` from a recipe YAML plus command-line overrides:

- `GRPOScriptArguments` (this file): the data (any of the three GRPO formats), prompts and tags, the rewards and
  their options (it inherits `grpo.rewards.RewardOptions`' fields: one definition, one default, one help), the
  judge and the image pixel limits, and the validation flags (`val_*`, grpo.validation.ValidationArguments);
- `GRPOConfig` (this file): `trl.GRPOConfig`, every trainer field stock (loss_type, beta, num_generations,
  temperature, use_vllm, ...), plus the CPU fallback of common.training.adapt_to_host. It keeps TRL's name because
  it is that class (a subclass filling one gap), unlike sft.configs.SFTTrainingArguments, which is not trl.SFTConfig;
  grpo.stages and every GRPO caller import it under this name;
- `GRPOModelArguments` (this file): the checkpoint, dtype, attention implementation, LoRA and what trains, in the
  vocabulary both stages share (common.model_args: TRL's ModelConfig names plus the freeze flags).

Every rule that combines fields is checked in `__post_init__`, so a bad recipe fails before data or model load.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import trl

from common.cli import check_choice
from common.data import DATA_POLICIES
from common.eval_on_save import EvalOnSaveArguments
from common.model_args import ModelArguments
from common.prompts import JUDGE_MAX_TOKENS, JUDGE_MODEL, JUDGE_TEMPERATURE
from common.training import adapt_to_host
from grpo.judge import JudgeConfig
from grpo.rewards import REWARDS, TASKS, RewardOptions
from grpo.validation import ValidationArguments

DATASET_FORMATS = ("auto", "imagefolder", "tinyrs_grpo", "jsonl", "earthdial")

# VLM-R1's question template with configurable tags: GeoVLM-R1's own prompt is unpublished (SPEC 4), and the
# multi-task JSONL records carry only the bare question. `{question}` is the human turn without `<image>`.
JSONL_QUESTION_TEMPLATE = (
    "{question} Output the thinking process in <{think_tag}> </{think_tag}> and final answer in "
    "<{answer_tag}> </{answer_tag}> tags."
)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@dataclass
class GRPOScriptArguments(RewardOptions, ValidationArguments):
    # ---- data -----------------------------------------------------------------------------------------------------
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "GRPO data: a SAMChat imagefolder (images + metadata.jsonl), a TinyRS save_to_disk folder or Hub "
            "id, VLM-R1 multi-task JSONL files (comma-separated) (SPEC 2.2-2.4), or EarthDial shard folders "
            "(comma-separated, EARTHDIAL.md 3)."
        },
    )
    dataset_format: str = field(
        default="auto",
        metadata={"help": f"One of {DATASET_FORMATS}; auto detects it from the path (see grpo.data.detect_format)."},
    )
    dataset_split: str = field(
        default="train", metadata={"help": "Split of a TinyRS DatasetDict, or of EarthDial DatasetDict shards."}
    )
    image_folder: str | None = field(
        default=None,
        metadata={
            "help": "JSONL only: the folder relative image paths are joined with; comma-separated, one per file, "
            "or one for all files."
        },
    )
    dataset_tasks: str | None = field(
        default=None,
        metadata={
            "help": "JSONL: the task of each file's records (comma-separated, one per file, or one for all), "
            "used where a record has no `task`; a record's `accu_reward_method` still overrides the reward rule. "
            "EarthDial: the task of each shard (required)."
        },
    )
    data_policy: str = field(
        default="error",
        metadata={"help": "Bad records: 'error' stops at the first (file and record named); 'skip' counts them."},
    )
    max_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N records (after validation): smoke tests, demos."}
    )
    # ---- prompts ----------------------------------------------------------------------------------------------------
    system_prompt: str | None = field(
        default=None,
        metadata={
            "help": "Replace the system text. None: the dataset's own (SAMChat and TinyRS carry the papers' "
            "prompts); JSONL records get none, so Qwen's chat template adds its default; EarthDial shards get "
            "GeoVLM-R1's (ours: common.prompts.GEOVLM_R1_SYSTEM)."
        },
    )
    question_template: str | None = field(
        default=None,
        metadata={
            "help": "Format of the user text with {question}, {think_tag}, {answer_tag}. None: as the dataset gives "
            "it for SAMChat / TinyRS, JSONL_QUESTION_TEMPLATE for JSONL."
        },
    )
    # ---- rewards ---------------------------------------------------------------------------------------------------
    reward_funcs: list[str] = field(
        default_factory=lambda: ["format", "samchat_keyword"],
        metadata={"help": f"Rewards by registry name (grpo/rewards): {sorted(REWARDS)}; weights: reward_weights."},
    )
    # The reward options (tags, format_mode, keywords, samchat_tag_case, iou_mode, box_frame, caption_metric,
    # completion_length_max_chars, judge_failure_value) are RewardOptions' fields, inherited.
    # ---- judge (TinyRS open-ended rows, SPEC 5, 7.6) -----------------------------------------------------------------
    judge_policy: str = field(
        default="judge",
        metadata={"help": "'judge': score open-ended rows with the LLM judge; 'skip': drop them (counted)."},
    )
    judge_prompt: str = field(
        default="upstream",
        metadata={
            "help": "'upstream': the released request (system grading text, tagged question and answer, the "
            "dataset's own base64 image) and reply parser (first unsigned number / 10), SPEC 5; 'improved': this "
            "project's grading prompt and signed-number parser (grpo.judge)."
        },
    )
    judge_model: str = field(default=JUDGE_MODEL, metadata={"help": "Judge model name."})
    judge_base_url: str | None = field(
        default=None, metadata={"help": "OpenAI-compatible endpoint (None: OpenAI; e.g. a local vLLM server)."}
    )
    judge_api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the key (never logged or saved)."}
    )
    judge_temperature: float = field(default=JUDGE_TEMPERATURE, metadata={"help": "Judge sampling temperature."})
    judge_max_tokens: int | None = field(
        default=JUDGE_MAX_TOKENS,
        metadata={"help": "max_tokens of each judge request (upstream 32768; None: not sent, the server decides)."},
    )
    judge_timeout: float = field(default=30.0, metadata={"help": "Seconds per judge request."})
    judge_max_retries: int = field(default=5, metadata={"help": "Retries on timeouts, 429 and 5xx."})
    judge_backoff: float = field(default=1.0, metadata={"help": "First retry delay in seconds (doubles)."})
    judge_garbage_value: float | None = field(
        default=0.0, metadata={"help": "Reward for a judge reply without a number (SPEC 5: 0)."}
    )
    judge_cache_path: str | None = field(
        default=None, metadata={"help": "JSONL cache of judgements (None: output_dir/judge_cache.jsonl)."}
    )
    # ---- processor (the same names as SFT's DataArguments) ---------------------------------------------------------
    image_min_pixels: int | None = field(default=None, metadata={"help": "Minimum pixels per image (processor)."})
    image_max_pixels: int | None = field(default=None, metadata={"help": "Maximum pixels per image (processor)."})

    def __post_init__(self):
        check_choice("dataset_format", self.dataset_format, DATASET_FORMATS)
        check_choice("data_policy", self.data_policy, DATA_POLICIES)
        check_choice("judge_policy", self.judge_policy, ("judge", "skip"))
        if not self.reward_funcs:
            raise ValueError("reward_funcs is empty: name at least one reward")
        unknown = [name for name in self.reward_funcs if name not in REWARDS]
        if unknown:
            raise ValueError(f"unknown reward(s) {unknown}; registered: {sorted(REWARDS)}")
        unknown_tasks = [task for task in self.file_tasks if task not in TASKS]
        if unknown_tasks:
            raise ValueError(f"dataset_tasks: unknown task(s) {unknown_tasks}; known: {', '.join(TASKS)}")
        if self.max_samples is not None and self.max_samples <= 0:
            raise ValueError(f"max_samples must be positive, got {self.max_samples}")
        # RewardOptions' own checks (format_mode, iou_mode, box_frame, caption_metric, tags, keywords) and the
        # validation flags' (grpo.validation): a bad value fails at parse time, not at the first reward call.
        RewardOptions.__post_init__(self)
        ValidationArguments.__post_init__(self)

    @property
    def dataset_files(self) -> list[str]:
        return _split(self.dataset_name)

    @property
    def image_folders(self) -> list[str]:
        return _split(self.image_folder)

    @property
    def file_tasks(self) -> list[str]:
        return _split(self.dataset_tasks)

    def reward_options(self) -> RewardOptions:
        """The reward options alone (what grpo.rewards takes), copied from the inherited fields."""
        return RewardOptions(**{f.name: getattr(self, f.name) for f in fields(RewardOptions)})

    def judge_config(self, output_dir: str | None = None) -> JudgeConfig:
        cache = self.judge_cache_path
        if cache is None and output_dir:
            cache = f"{output_dir.rstrip('/')}/judge_cache.jsonl"
        return JudgeConfig(
            policy=self.judge_policy,
            model=self.judge_model,
            base_url=self.judge_base_url,
            api_key_env=self.judge_api_key_env,
            temperature=self.judge_temperature,
            max_tokens=self.judge_max_tokens,
            prompt=self.judge_prompt,
            timeout=self.judge_timeout,
            max_retries=self.judge_max_retries,
            backoff=self.judge_backoff,
            failure_value=self.judge_failure_value,
            garbage_value=self.judge_garbage_value,
            cache_path=cache,
        )


@dataclass
class GRPOConfig(EvalOnSaveArguments, trl.GRPOConfig):
    """trl.GRPOConfig with --eval_on_save (common.eval_on_save) and the one gap filled that a stock field cannot
    express: on a host without CUDA the paper recipes (bf16, tf32) would stop at transformers' GPU checks, so the CPU
    is chosen first (adapt_to_host)."""

    def __post_init__(self):
        adapt_to_host(self)
        super().__post_init__()
        # Objective settings that only make sense together (SPEC 7.18): a half-applied objective would train with
        # neither the paper's step nor the named one, silently.
        if self.loss_type == "dr_grpo" and self.scale_rewards != "none":
            raise ValueError(
                f"loss_type dr_grpo with scale_rewards {self.scale_rewards!r}: Dr. GRPO drops both the length and "
                "the std normalisation; set scale_rewards none (or loss_type grpo for the paper's objective)"
            )


@dataclass
class GRPOModelArguments(ModelArguments):
    """The shared model vocabulary (common.model_args) with TRL's defaults (LoRA rank 16, alpha 32), the GRPO papers'
    code base. Full fine-tuning applies freeze_vision_tower / tune_merger / freeze_llm exactly as SFT does
    (common.modeling.set_trainable). LoRA is TRL's: adapters on lora_target_modules, full training of
    lora_modules_to_save only; freeze_vision_tower keeps adapters off the vision encoder (its merger excepted)."""

    def __post_init__(self):
        super().__post_init__()
        lora_only = "with use_peft, PEFT trains only the adapters and lora_modules_to_save (e.g. merger)"
        self.reject_unsupported(
            "GRPO",
            {
                "vision_lora": "GRPO's LoRA targets are lora_target_modules (vision modules included if named)",
                "num_lora_modules": "GRPO's LoRA targets are lora_target_modules",
                "lora_exclude_modules": "GRPO's LoRA targets are lora_target_modules",
                "load_in_4bit": "GRPO trains unquantised weights",
                "load_in_8bit": "GRPO trains unquantised weights",
                "bnb_4bit_quant_type": "GRPO trains unquantised weights",
                "use_bnb_nested_quant": "GRPO trains unquantised weights",
                "bnb_4bit_quant_storage": "GRPO trains unquantised weights",
                "model_revision": "give a local path or a Hub id at the wanted revision",
            },
        )
        if self.use_peft:
            self.reject_unsupported("GRPO", {"freeze_llm": lora_only, "tune_merger": lora_only})
