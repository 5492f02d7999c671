"""Arbitrary completions and solutions through every reward over every task: never an exception, never NaN, every
value in [0, 1] or None. Completions come from a model that can write anything; solutions from data we do not own."""

import math
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpo.rewards import REWARDS, TASKS, RewardOptions
from grpo.rewards.base import Context

HAS_JAVA = shutil.which("java") is not None

# Pieces the parsers treat specially: tags (balanced or not), numbers a float cannot hold or does not mean,
# signs, box syntaxes, yes/no, choice letters, keywords, class lists and separators.
FRAGMENTS = [
    "<reasoning>", "</reasoning>", "<think>", "</think>", "<answer>", "</answer>", "<ANSWER>",
    "[", "]", "[[", "]]", "(", ")", ",", ", ", " ", "\n", ".", "-", "|||",
    "0", "1", "7", "-3", "0.5", "12.5", "1000", "nan", "NaN", "inf", "-inf", "1e999", "9" * 400,
    "[1, 2, 3, 4]", "[0, 0, 10, 10]", "[10, 10, 0, 0]", "(1,2),(3,4)", "[nan, 1, 2, 3]", "[1e999, 0, 5, 5]",
    "yes", "No", "(B)", "answer is C", "military", "missile", "silo", "Classes: a, b and c.", " and ",
    "forest", "军事", "👍", "\x00", "\u200b",
]  # fmt: skip
SPECIAL = ["", " ", "nan", "inf", "1e999", "-5", "x" * 100_000, "<answer>" * 2_000, "9" * 5_000, "\n" * 500]

texts = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=120),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=12).map("".join),
)
sizes = st.lists(st.integers(1, 5000), min_size=2, max_size=2)

OPTION_SETS = [
    RewardOptions(),
    RewardOptions(
        think_tag="think",
        format_mode="fullmatch",
        iou_mode="upstream",
        box_frame="grid",
        keywords=("tank", "军事"),
        completion_length_max_chars=1,
    ),
    RewardOptions(box_frame="input", caption_metric="meteor" if HAS_JAVA else "rouge_l", judge_failure_value=0.0),
]


class ArbitraryJudge:
    """A judge whose scores need not be scores: the reward must still stay in [0, 1]."""

    def __init__(self, value):
        self.value = value
        self.counts = {"calls": 0}

    def score(self, question, answer, image, image_base64=None):
        self.counts["calls"] += 1
        return self.value


@given(
    completion=texts,
    solution=texts,
    question=texts,
    reward_method=st.one_of(st.none(), st.sampled_from(TASKS), st.text(max_size=8)),
    image_size=sizes,
    input_size=sizes,
    judge_value=st.sampled_from([None, 0.0, 0.35, 1.0, 7.0, -1.0, math.nan, math.inf]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_reward_on_every_task_stays_in_unit_interval(
    completion, solution, question, reward_method, image_size, input_size, judge_value
):
    rows = [
        {
            "solution": solution,
            "task": task,
            "reward_method": reward_method,
            "question": question,
            "images": [None],
            "image_size": image_size,
            "input_size": input_size,
        }
        for task in TASKS
    ]
    batch = [completion] * len(rows)
    for options in OPTION_SETS:
        for judge in (None, ArbitraryJudge(judge_value)):
            context = Context(options, judge, log_metric=lambda name, value: None)
            for name, reward in REWARDS.items():
                values = reward.rule(batch, rows, context)
                assert len(values) == len(rows), name
                for task, value in zip(TASKS, values):
                    assert value is None or (isinstance(value, float) and 0.0 <= value <= 1.0), (name, task, value)


@pytest.mark.skipif(not HAS_JAVA, reason="METEOR needs java on PATH")
@given(completion=texts, solution=texts)
@settings(max_examples=25, deadline=None)
def test_meteor_caption_reward_stays_in_unit_interval(completion, solution):
    context = Context(RewardOptions(caption_metric="meteor"))
    (value,) = REWARDS["caption"].rule([completion], [{"solution": solution, "task": "captioning"}], context)
    assert isinstance(value, float) and 0.0 <= value <= 1.0
