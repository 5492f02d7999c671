"""The task vocabulary: one definition of each list of names that the data readers, the rewards, the evaluation and
the synthetic generators share. Import the names from here or from `common.data` (which re-exports them, for the
readers check records against them); never copy a list. Plain constants, so that importing them costs nothing
(grpo.rewards imports them without the readers' numpy and Pillow)."""

from __future__ import annotations

# ScoreRS suite, SPEC 2.6: key -> (file name, task type), in the order `--task all` runs them.
SCORERS_TASKS: dict[str, tuple[str, str]] = {
    "cls_aid": ("cls_AID.json", "cls"),
    "cls_METER_ML": ("cls_METER_ML.json", "cls"),
    "cls_NWPU_RESISC45": ("cls_NWPU_RESISC45.json", "cls"),
    "cls_SIRI": ("cls_SIRI_WHU.json", "cls"),
    "cls_WHU_RS19": ("cls_WHU_RS19.json", "cls"),
    "vqa_HR-comp": ("RSVQA_HR-comp_RSVQA.json", "vqa"),
    "vqa_HR-pre": ("RSVQA_HR-presence_RSVQA.json", "vqa"),
    "vqa_LR-comp": ("RSVQA_LR-comp_RSVQA.json", "vqa"),
    "vqa_LR-pre": ("RSVQA_LR-presence_RSVQA.json", "vqa"),
    "vqa_LR-rural": ("RSVQA_LR-rural_urban_RSVQA.json", "vqa"),
    "rs_vg": ("VG_DOIR_RSVG_test.json", "bbox"),
    "lhrs_bench": ("LHRS-Bench.json", "mcq"),
}

# LHRS-Bench categories (SPEC 2.6): the names, in the order of their ids; a record's `type` lists ids "1".."11".
LHRS_CATEGORY_NAMES = (
    "identity",
    "color",
    "orientation",
    "shape",
    "quantity",
    "area",
    "distance",
    "resolution",
    "modality",
    "location",
    "reasoning",
)
LHRS_CATEGORIES = tuple(str(i) for i in range(1, len(LHRS_CATEGORY_NAMES) + 1))

# SAMData test file names start with the category (SPEC 2.5): 0 positive easy, 1 positive hard, 2 negative.
SAMDATA_CATEGORIES = ("0", "1", "2")

# TinyRS GRPO answer types (SPEC 2.3) -> typed task names.
TINYRS_TASKS = {"0": "open_ended", "1": "short_answer", "2": "bbox"}

# The task names a GRPO record may carry (JSONL `task`, SPEC 2.4) and the accuracy rules its `accu_reward_method`
# may ask for: exactly what grpo.rewards scores (GEOVLM_TASKS keys grpo.rewards.geovlm's GEOVLM_RULES; tests keep
# the rules and grpo.rewards.TASKS equal to these). A name outside them would train with no accuracy reward at all,
# silently.
GEOVLM_TASKS = (
    "classification",
    "vqa",
    "yes_no",
    "multiple_choice",
    "multilabel",
    "counting",
    "referring_detection",
    "detection",
    "captioning",
)
# The EarthDial families' own rules (grpo.rewards.earthdial), named by the shard readers and usable in JSONL too.
EARTHDIAL_GRPO_TASKS = (
    "temporal_classification",
    "region_classification",
    "referred_detection",
    "image_captioning",
    "change_captioning",
    "region_captioning",
    "grounding_description",
)
GRPO_TASKS = ("samchat", "short_answer", "bbox", "open_ended", *GEOVLM_TASKS, *EARTHDIAL_GRPO_TASKS)
