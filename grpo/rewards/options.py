"""What a recipe may change about the rewards: tags, format mode, keywords, box handling, caption metric.

The field names are the recipe keys (configs/grpo/*.yaml, `grpo.configs.GRPOScriptArguments`) and the flags of
`python -m grpo.rewards`, so one YAML drives training and offline scoring alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.parsing import BOX_FRAMES
from common.prompts import SAMCHAT_KEYWORDS

FORMAT_MODES = ("search", "fullmatch")
IOU_MODES = ("correct", "upstream")
CAPTION_METRICS = ("rouge_l", "meteor")
TAG_CASES = ("sensitive", "insensitive")


@dataclass
class RewardOptions:
    think_tag: str = "reasoning"  # SAMChat and TinyRS; "think" for VLM-R1 / GeoVLM-R1 (SPEC 4)
    answer_tag: str = "answer"
    format_mode: str = "search"  # see FORMAT_MODES and common.parsing.has_format
    keywords: tuple[str, ...] = SAMCHAT_KEYWORDS  # samchat_keyword's positive words (SPEC 5)
    # samchat_keyword's `<answer>` tags: "sensitive" as the released reward (SPEC 5, the paper recipes);
    # "insensitive" as the SAMData metric reads them (SPEC 6.1).
    samchat_tag_case: str = "sensitive"
    # "upstream" reproduces SPEC 7.5 (the predicted box compared with itself, upstream's IoU) for ablations only.
    iou_mode: str = "correct"
    box_frame: str = "pixels"  # frame of predicted GeoVLM boxes, as in eval (eval.tasks.base.BOX_FRAMES)
    caption_metric: str = "rouge_l"  # see CAPTION_METRICS; METEOR needs java on PATH
    # Reward of an open-ended row whose judge call gave no score (grpo.judge: a final failure, or a reply without a
    # number when its garbage_value is None). None leaves the row out of the step, as TRL does with None.
    judge_failure_value: float | None = None
    completion_length_max_chars: int = 256  # completion_length scores 1.0 from this many characters on

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
