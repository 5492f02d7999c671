"""What a recipe may change about the rewards: tags, format mode, keywords, box handling, caption metric.

The field names are the recipe keys (configs/grpo/*.yaml, `grpo.configs.GRPOScriptArguments`) and the flags of
`python -m grpo.rewards`, so one YAML drives training and offline scoring alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.parsing import BOX_FRAMES
from common.prompts import SAMCHAT_KEYWORDS

FORMAT_MODES = ("search", "fullmatch")
IOU_MODES = ("correct", "upstream")
CAPTION_METRICS = ("rouge_l", "meteor")
TAG_CASES = ("sensitive", "insensitive")


@dataclass
class RewardOptions:
    """Parsed as part of grpo.configs.GRPOScriptArguments (which inherits these fields, defaults and help texts) and
    by `python -m grpo.rewards`; `keywords` is parsed as a list and kept as a tuple."""

    think_tag: str = field(default="reasoning", metadata={"help": "'reasoning' (SAMChat, TinyRS) or 'think' (SPEC 4)."})
    answer_tag: str = field(default="answer", metadata={"help": "Tag of the final answer."})
    format_mode: str = field(
        default="search",
        metadata={"help": "'search' (SAMChat, TinyRS) or 'fullmatch' (common.parsing.has_format)."},
    )
    keywords: list[str] = field(
        default_factory=lambda: list(SAMCHAT_KEYWORDS),
        metadata={"help": "samchat_keyword's positive keywords (SPEC 5)."},
    )
    samchat_tag_case: str = field(
        default="sensitive",
        metadata={
            "help": "samchat_keyword's <answer> tags: 'sensitive' as the released reward (SPEC 5), or 'insensitive' "
            "as the SAMData metric reads them (SPEC 6.1)."
        },
    )
    iou_mode: str = field(
        default="correct",
        metadata={
            "help": "'correct', or 'upstream' to reproduce the released bbox reward bug (the predicted box compared "
            "with itself: SPEC 7.5), for ablations only."
        },
    )
    box_frame: str = field(
        default="pixels",
        metadata={"help": "Frame of predicted boxes: 'pixels', 'grid' (Qwen2-VL 0-1000) or 'input' (Qwen2.5-VL)."},
    )
    caption_metric: str = field(
        default="rouge_l", metadata={"help": "Captioning reward: 'rouge_l' or 'meteor' (METEOR needs java on PATH)."}
    )
    # grpo.judge: a final failure, or a reply without a number when its garbage_value is None. None leaves the row out
    # of the step, as TRL does with None.
    judge_failure_value: float | None = field(
        default=None,
        metadata={
            "help": "Reward after a final judge failure, or a reply without a number (None: the row is left out)."
        },
    )
    completion_length_max_chars: int = field(
        default=256, metadata={"help": "completion_length reward: characters that score 1 (smoke tests only)."}
    )

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("format_mode", self.format_mode, FORMAT_MODES),
            ("iou_mode", self.iou_mode, IOU_MODES),
            ("samchat_tag_case", self.samchat_tag_case, TAG_CASES),
            ("box_frame", self.box_frame, BOX_FRAMES),
            ("caption_metric", self.caption_metric, CAPTION_METRICS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        for name in ("think_tag", "answer_tag"):
            tag = getattr(self, name)
            if not isinstance(tag, str) or not tag or any(c in tag for c in "<>/ \t\n"):
                raise ValueError(f"{name} must be a bare tag name such as 'answer', got {tag!r}")
        # A YAML list or a single string both mean keywords; an empty keyword would match every text.
        keywords = (self.keywords,) if isinstance(self.keywords, str) else tuple(self.keywords)
        if not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
            raise ValueError(f"keywords must be non-empty strings, got {self.keywords!r}")
        self.keywords = keywords
        if self.judge_failure_value is not None and not 0.0 <= self.judge_failure_value <= 1.0:
            raise ValueError(f"judge_failure_value must be None or in [0, 1], got {self.judge_failure_value}")
        if isinstance(self.completion_length_max_chars, bool) or self.completion_length_max_chars <= 0:
            raise ValueError(
                f"completion_length_max_chars must be a positive int, got {self.completion_length_max_chars}"
            )
