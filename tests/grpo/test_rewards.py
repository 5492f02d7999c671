"""Table-driven tests of every GRPO reward, called as `trl.GRPOTrainer` calls them, and their agreement with eval."""

import doctest
import shutil

import pytest
from PIL import Image

import grpo.rewards
from common.metrics import matched_ious
from eval.tasks import TASKS as EVAL_TASKS
from eval.tasks import ScoreOptions
from eval.tasks.geovlm import all_matched
from eval.tasks.samdata import predicted_positive
from grpo.rewards import (
    REWARDS,
    TASKS,
    RewardOptions,
    build_reward_funcs,
    completion_text,
    default_task,
    geovlm,
    samchat,
    score_rows,
    tinyrs,
)
from grpo.rewards import format as format_module
from grpo.rewards.geovlm import class_list, named_classes

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs java on PATH")


class FakeJudge:
    """Stands in for grpo.judge.Judge: returns a fixed score and records what it was asked."""

    def __init__(self, value):
        self.value = value
        self.calls = []
        self.counts = {"calls": 0, "cached": 0, "retries": 0, "failures": 0, "garbage": 0}

    def score(self, question, answer, image, image_base64=None):
        self.calls.append((question, answer, image))
        self.counts["calls"] += 1
        return self.value


def call(name, completions, options=None, judge=None, **columns):
    """One reward over conversational completions, with every column a list as TRL passes it."""
    (func,) = build_reward_funcs([name], options or RewardOptions(), judge)
    n = len(completions)
    metrics = []
    values = func(
        prompts=[[{"role": "user", "content": "q"}]] * n,
        completions=[[{"role": "assistant", "content": text}] for text in completions],
        completion_ids=[[1, 2, 3]] * n,
        trainer_state=object(),
        log_extra=lambda column, values: None,
        log_metric=lambda metric, value: metrics.append((metric, value)),
        **columns,
    )
    return values, metrics


def one(name, text, solution, task, options=None, judge=None, **extra):
    columns = {"solution": [solution], "task": [task], "reward_method": [extra.pop("reward_method", None)]}
    columns.update({key: [value] for key, value in extra.items()})
    values, _ = call(name, [text], options, judge, **columns)
    return values[0]


def test_docstring_examples():
    for module in (grpo.rewards, format_module, samchat, tinyrs, geovlm):
        failures, _ = doctest.testmod(module)
        assert failures == 0, module.__name__


def test_registry_names_and_trl_names():
    assert list(REWARDS) == [
        "format",
        "samchat_keyword",
        "tinyrs_accuracy",
        "iou",
        "classification",
        "yes_no",
        "multiple_choice",
        "multilabel_f1",
        "counting",
        "referring_iou",
        "detection_map",
        "caption",
        "geovlm_accuracy",
        "completion_length",
        "earthdial_classification",
        "earthdial_vqa",
        "earthdial_multilabel",
        "earthdial_referring",
        "earthdial_detection",
        "earthdial_caption",
        "earthdial_grounding",
        "earthdial_accuracy",
    ]
    funcs = build_reward_funcs(["samchat_keyword", "format"], RewardOptions())
    # TRL logs rewards/<__name__>/mean: the registry name, in the order asked for.
    assert [f.__name__ for f in funcs] == ["samchat_keyword", "format"]


def test_unknown_reward_lists_the_registry():
    with pytest.raises(ValueError, match=r"unknown reward\(s\) \['accuracy'\]; registered: .*'caption'"):
        build_reward_funcs(["format", "accuracy"], RewardOptions())
    with pytest.raises(ValueError, match="no reward named"):
        build_reward_funcs([], RewardOptions())


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"format_mode": "match"}, "format_mode must be one of"),
        ({"iou_mode": "buggy"}, "iou_mode must be one of"),
        ({"box_frame": "normalised"}, "box_frame must be one of"),
        ({"caption_metric": "cider"}, "caption_metric must be one of"),
        ({"think_tag": "<think>"}, "think_tag must be a bare tag name"),
        ({"answer_tag": ""}, "answer_tag must be a bare tag name"),
        ({"keywords": ()}, "keywords must be non-empty strings"),
        ({"keywords": ("military", " ")}, "keywords must be non-empty strings"),
        ({"judge_failure_value": 2.0}, "judge_failure_value must be None or in"),
        ({"completion_length_max_chars": 0}, "completion_length_max_chars must be a positive int"),
    ],
)
def test_reward_options_reject_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        RewardOptions(**fields)


def test_reward_options_keywords_from_a_list_or_a_string():
    assert RewardOptions(keywords=["tank", "radar"]).keywords == ("tank", "radar")
    assert RewardOptions(keywords="tank").keywords == ("tank",)  # one keyword, not four letters


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("plain text", "plain text"),
        ([{"role": "assistant", "content": "<answer>a</answer>"}], "<answer>a</answer>"),
        # Multimodal content parts: only the text parts count.
        ([{"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "image"}]}], "x"),
        # A tool turn inside a completion is not the model's text.
        ([{"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"}, {"content": "b"}], "ab"),
        ([{"role": "assistant", "content": None}], ""),
    ],
)
def test_completion_text(completion, expected):
    assert completion_text(completion) == expected


@pytest.mark.parametrize("completion", [3, [3], None])
def test_completion_text_rejects_other_types(completion):
    with pytest.raises(TypeError):
        completion_text(completion)


# ---------------------------------------------------------------------------------------------------------------
# format (SPEC 5)

FORMAT_CASES = [
    # (text, options, expected)
    ("<reasoning>r</reasoning><answer>a</answer>", {}, 1.0),
    # search: text after </answer> allowed; fullmatch: not.
    ("<reasoning>r</reasoning>\n<answer>a</answer> trailing", {}, 1.0),
    ("<reasoning>r</reasoning>\n<answer>a</answer> trailing", {"format_mode": "fullmatch"}, 0.0),
    # DOTALL, whitespace between the blocks.
    ("<reasoning>line 1\nline 2</reasoning>\n\n<answer>x\ny</answer>", {}, 1.0),
    # search anchors at the start (re.match), like upstream.
    ("Sure! <reasoning>r</reasoning><answer>a</answer>", {}, 0.0),
    ("<reasoning>r</reasoning><answer>a", {}, 0.0),  # unclosed answer
    ("<answer>a</answer><reasoning>r</reasoning>", {}, 0.0),  # wrong order
    ("<reasoning>r</reasoning> so <answer>a</answer>", {}, 0.0),  # text between the blocks
    # VLM-R1 style: <think>, full match, surrounding whitespace ignored.
    (" <think>r</think><answer>a</answer>\n", {"think_tag": "think", "format_mode": "fullmatch"}, 1.0),
    ("<think>r</think><answer>a</answer>", {}, 0.0),  # default tags are <reasoning>
    ("<reasoning>r</reasoning><final>a</final>", {"answer_tag": "final"}, 1.0),
    ("", {}, 0.0),
]


@pytest.mark.parametrize("text, fields, expected", FORMAT_CASES)
def test_format(text, fields, expected):
    # Every task: the format reward never returns None.
    values, _ = call("format", [text] * 2, RewardOptions(**fields), solution=["0", "x"], task=["samchat", "counting"])
    assert values == [expected, expected]


# ---------------------------------------------------------------------------------------------------------------
# samchat_keyword (SPEC 5)

SAMCHAT_CASES = [
    # (completion, solution, keywords, expected)
    ("<reasoning>r</reasoning><answer>A missile silo.</answer>", "1", None, 1.0),
    ("<reasoning>r</reasoning><answer>Farmland.</answer>", "1", None, 0.0),
    ("<reasoning>r</reasoning><answer>Farmland.</answer>", "0", None, 1.0),
    # Paper quirks (substring test): a negated or embedded keyword still counts as found.
    ("<answer>No military presence.</answer>", "0", None, 0.0),
    ("<answer>A PARAMILITARY camp</answer>", "1", None, 1.0),
    # Only the answer is read, not the reasoning.
    ("<reasoning>a military base?</reasoning><answer>Farmland.</answer>", "1", None, 0.0),
    # No answer tags: the whole text, lower-cased.
    ("Looks like a SILO field", "1", None, 1.0),
    (" <answer>silo</answer>", " 1 ", None, 1.0),  # the solution is stripped
    ("<answer>silo</answer>", "2", None, 0.0),  # neither "0" nor "1": 0 (SPEC 5)
    # Configurable keywords.
    ("<answer>An airport.</answer>", "1", ("airport",), 1.0),
    ("<answer>A missile.</answer>", "1", ("airport",), 0.0),
]


@pytest.mark.parametrize("text, solution, keywords, expected", SAMCHAT_CASES)
def test_samchat_keyword(text, solution, keywords, expected):
    options = RewardOptions(keywords=keywords) if keywords else RewardOptions()
    assert one("samchat_keyword", text, solution, "samchat", options) == expected


def test_samchat_keyword_skips_other_tasks_and_logs_keyword_stuffing():
    completions = [
        "<answer>military missile silo</answer>",  # every keyword: stuffing
        "<answer>Military, missile and silo.</answer>",  # every keyword, in any case
        "<answer>a missile</answer>",
        "<answer>missile silo</answer>",  # not a samchat row: not scored, not counted
    ]
    values, metrics = call(
        "samchat_keyword", completions, solution=["1", "0", "1", "1"], task=["samchat"] * 3 + ["short_answer"]
    )
    assert values == [1.0, 0.0, 1.0, None]
    # The shadow gap: the three samchat rows score alike under the strict rule (grpo.rewards.shadow).
    assert metrics == [
        ("samchat/all_keywords_frac", pytest.approx(2 / 3)),
        ("shadow/samchat_keyword/strict_gap", 0.0),
    ]


def test_samchat_keyword_logs_nothing_without_samchat_rows():
    values, metrics = call("samchat_keyword", ["<answer>silo</answer>"], solution=["1"], task=["counting"])
    assert values == [None] and metrics == []


@pytest.mark.parametrize(
    "text",
    ["<answer>A missile site</answer>", "<ANSWER>farmland</ANSWER> military", "no military", "<answer></answer>"],
)
def test_samchat_keyword_is_the_samdata_metric(text):
    # With tag_case "insensitive", reward "found" == the SAMData-300-Test paper metric's positive prediction
    # (SPEC 6.1). The default reads tags case-sensitively, as the released reward: it differs on "<ANSWER>" only.
    keywords = ("military", "missile", "silo")
    assert samchat.keyword_reward(text, "1", keywords, tag_case="insensitive") == float(predicted_positive(text))
    if "<ANSWER>" not in text:
        assert samchat.keyword_reward(text, "1", keywords) == float(predicted_positive(text))


# ---------------------------------------------------------------------------------------------------------------
# tinyrs_accuracy and iou (SPEC 5, 7.5)

TINYRS_CASES = [
    # (task, completion, solution, options, expected)
    ("short_answer", "<reasoning>r</reasoning><answer>Dense residential.</answer>", "dense residential", {}, 1.0),
    ("short_answer", "<answer>dense residential area</answer>", "dense residential", {}, 0.0),
    ("short_answer", "<answer> Airport </answer>", " airport.", {}, 1.0),  # stripped, dots removed
    ("short_answer", "Airport", "airport", {}, 1.0),  # no tags: the whole text
    ("short_answer", "<answer>a.i.r.port</answer>", "airport", {}, 1.0),  # every "." goes (upstream's replace)
    ("short_answer", "<answer>airport,</answer>", "airport", {}, 0.0),
    ("bbox", "<answer>[10, 10, 20, 20]</answer>", "[10, 10, 20, 30]", {}, 0.5),
    ("bbox", "<answer>[[10,10,20,30]]</answer>", "[10, 10, 20, 30]", {}, 1.0),
    # Upstream's integers are \d+ runs: signs are dropped, "12.5" is two integers.
    ("bbox", "<answer>box -10, 10, 20, 30</answer>", "[10, 10, 20, 30]", {}, 1.0),
    ("bbox", "<answer>[10.5, 10, 20, 30]</answer>", "[10, 5, 10, 20]", {}, 0.0),
    ("bbox", "<answer>no box here</answer>", "[10, 10, 20, 30]", {}, 0.0),
    ("bbox", "<answer>[1, 2, 3, 4]</answer>", "no box", {}, None),  # nothing to compare with
    ("bbox", "<answer>[500, 500, 900, 900]</answer>", "[10, 10, 20, 30]", {"iou_mode": "upstream"}, 1.0),
    ("bbox", "<answer>[1, 2, 3]</answer>", "[10, 10, 20, 30]", {"iou_mode": "upstream"}, 0.0),
    ("samchat", "<answer>1</answer>", "1", {}, None),
    ("counting", "<answer>3</answer>", "3", {}, None),
]


@pytest.mark.parametrize("task, text, solution, fields, expected", TINYRS_CASES)
def test_tinyrs_accuracy(task, text, solution, fields, expected):
    assert one("tinyrs_accuracy", text, solution, task, RewardOptions(**fields)) == expected


@pytest.mark.parametrize(
    "text, solution, correct, upstream",
    [
        # Same inputs, both modes: the released reward compared the predicted box with itself (SPEC 7.5).
        ("<answer>[500, 500, 900, 900]</answer>", "[10, 10, 20, 30]", 0.0, 1.0),
        ("<answer>[10, 10, 20, 20]</answer>", "[10, 10, 20, 30]", 0.5, 1.0),
        ("<answer>[10, 10, 20, 30]</answer>", "[10, 10, 20, 30]", 1.0, 1.0),
        ("<answer>left half</answer>", "[10, 10, 20, 30]", 0.0, 0.0),
    ],
)
def test_iou_correct_and_upstream_modes(text, solution, correct, upstream):
    assert one("iou", text, solution, "bbox", RewardOptions(iou_mode="correct")) == correct
    assert one("iou", text, solution, "bbox", RewardOptions(iou_mode="upstream")) == upstream
    assert one("tinyrs_accuracy", text, solution, "bbox", RewardOptions(iou_mode="upstream")) == upstream


def test_iou_covers_only_bbox_rows():
    values, _ = call(
        "iou", ["[1, 1, 2, 2]"] * 3, solution=["[1, 1, 2, 2]"] * 3, task=["bbox", "short_answer", "referring_detection"]
    )
    assert values == [1.0, None, None]


def test_open_ended_goes_to_the_judge():
    judge = FakeJudge(0.7)
    image = Image.new("RGB", (4, 4))
    text = "<reasoning>r</reasoning><answer> An airport with two runways. </answer>"
    value = one("tinyrs_accuracy", text, "ref", "open_ended", judge=judge, question="What is here?", images=[image])
    assert value == 0.7
    # The extracted answer (stripped), the bare question and the row's first image.
    assert judge.calls == [("What is here?", "An airport with two runways.", image)]


@pytest.mark.parametrize(
    "judge_value, failure_value, expected",
    [
        (None, None, None),  # the judge gave no score: the row is left out by default
        (None, 0.0, 0.0),  # ... or scored judge_failure_value
        (1.5, None, 1.0),  # a judge outside [0, 1] is clipped
        (-0.5, None, 0.0),
        (float("nan"), None, None),  # NaN is no score either: never passed on
        (float("nan"), 0.0, 0.0),
    ],
)
def test_open_ended_judge_without_score(judge_value, failure_value, expected):
    options = RewardOptions(judge_failure_value=failure_value)
    assert one("tinyrs_accuracy", "<answer>a</answer>", "", "open_ended", options, FakeJudge(judge_value)) == expected


def test_open_ended_without_judge_is_none():
    assert one("tinyrs_accuracy", "<answer>a</answer>", "", "open_ended", question="q", images=[None]) is None


# ---------------------------------------------------------------------------------------------------------------
# GeoVLM family, from VLM-R1 (SPEC 5)

GEOVLM_CASES = [
    # (reward, task, completion, solution, extra columns, expected)
    ("classification", "classification", "<think>t</think><answer>Farmland</answer>", "farmland", {}, 1.0),
    ("classification", "classification", "<answer>missile site.</answer>", "Missile Site", {}, 1.0),
    ("classification", "classification", "<answer>farmland, lake</answer>", "farmland", {}, 0.0),
    ("classification", "classification", "<answer>The image shows farmland</answer>", "farmland", {}, 0.0),
    # More than one class name: counted on the question's class list when there is one.
    ("classification", "classification", "<answer>road and bridge</answer>", "road and bridge", {}, 0.0),
    (
        "classification",
        "classification",
        "<answer>road and bridge</answer>",
        "road and bridge",
        {"question": "Classify the image. Classes: forest, road and bridge. Answer with one phrase."},
        1.0,
    ),
    ("classification", "vqa", "<answer>Yes</answer>", "yes", {}, 1.0),
    ("classification", "vqa", "<answer>rural area</answer>", "rural", {}, 0.0),
    ("classification", "counting", "<answer>3</answer>", "3", {}, None),
    ("yes_no", "yes_no", "<answer>Yes, there is a runway.</answer>", "yes", {}, 1.0),
    ("yes_no", "yes_no", "<answer>I think the answer is no</answer>", "No", {}, 1.0),
    ("yes_no", "yes_no", "<answer>no</answer>", "yes", {}, 0.0),
    ("yes_no", "yes_no", "<answer>maybe</answer>", "no", {}, 0.0),
    ("yes_no", "yes_no", "<answer>yes</answer>", "3", {}, None),  # the solution is not yes/no
    ("multiple_choice", "multiple_choice", "<answer>(C) Harbour</answer>", "C", {}, 1.0),
    ("multiple_choice", "multiple_choice", "<answer>B</answer>", "B. Airport", {}, 1.0),
    ("multiple_choice", "multiple_choice", "<answer>The answer is B.</answer>", "C", {}, 0.0),
    ("multiple_choice", "multiple_choice", "<answer>A large airport</answer>", "A", {}, 0.0),
    ("multiple_choice", "multiple_choice", "<answer>B</answer>", "airport", {}, None),
    ("multilabel_f1", "multilabel", "<answer>forest, river</answer>", "forest, pasture", {}, 0.5),
    ("multilabel_f1", "multilabel", "<answer>River and Forest.</answer>", "forest, river", {}, 1.0),
    ("multilabel_f1", "multilabel", "<answer></answer>", "forest", {}, 0.0),
    ("multilabel_f1", "multilabel", "<answer>forest, forest</answer>", "forest, river, lake", {}, 0.5),
    ("counting", "counting", "<answer>There are 7 planes.</answer>", "7", {}, 1.0),
    ("counting", "counting", "<answer>7.0</answer>", "7", {}, 1.0),
    ("counting", "counting", "<answer>seven</answer>", "7", {}, 0.0),
    ("counting", "counting", "<answer>3</answer>", "many", {}, None),
    ("referring_iou", "referring_detection", "<answer>[0, 0, 10, 10]</answer>", "[0, 0, 10, 20]", {}, 0.5),
    # VLM-R1 scores the first box: extra boxes cannot raise the reward.
    (
        "referring_iou",
        "referring_detection",
        "<answer>[0, 0, 10, 10] [0, 0, 20, 20]</answer>",
        "[0, 0, 20, 20]",
        {},
        0.25,
    ),
    # Several true boxes: the first n predictions, matched one-to-one, IoUs averaged.
    (
        "referring_iou",
        "referring_detection",
        "<answer>[20, 0, 30, 10], [0, 0, 10, 10], [20, 0, 30, 20]</answer>",
        "[0, 0, 10, 10], [20, 0, 30, 20]",
        {},
        0.75,
    ),
    ("referring_iou", "referring_detection", "<answer>the left plane</answer>", "[0, 0, 10, 20]", {}, 0.0),
    ("referring_iou", "referring_detection", "<answer>[0, 0, 10, 10]</answer>", "the left plane", {}, None),
    ("detection_map", "detection", "<answer>[0, 0, 10, 10], [50, 50, 60, 60]</answer>", "[0, 0, 10, 10]", {}, 0.5),
    (
        "detection_map",
        "detection",
        "<answer>[50, 50, 60, 60], [0, 0, 10, 10]</answer>",
        "[0, 0, 10, 10], [50, 50, 60, 60]",
        {},
        1.0,
    ),
    # A wrong box ranked first: AP 0.5, times the count penalty 1/2.
    ("detection_map", "detection", "<answer>[80, 80, 90, 90], [0, 0, 10, 10]</answer>", "[0, 0, 10, 10]", {}, 0.25),
    ("detection_map", "detection", "<answer>none</answer>", "[0, 0, 10, 10]", {}, 0.0),
    ("detection_map", "detection", "<answer>none</answer>", "", {}, 1.0),  # an empty scene, rightly empty
    ("detection_map", "detection", "<answer>[0, 0, 1, 1]</answer>", "", {}, 0.0),
    (
        "caption",
        "captioning",
        "<answer>a plane is parked on the apron</answer>",
        "a plane parked on the apron",
        {},
        12 / 13,
    ),
    ("caption", "captioning", "<answer>Two planes.</answer>", "two planes", {}, 1.0),
    ("caption", "captioning", "<answer>forest</answer>", "a harbour", {}, 0.0),
    ("caption", "classification", "<answer>forest</answer>", "forest", {}, None),
]


@pytest.mark.parametrize("name, task, text, solution, extra, expected", GEOVLM_CASES)
def test_geovlm_rewards(name, task, text, solution, extra, expected):
    options = RewardOptions(think_tag="think", format_mode="fullmatch")
    value = one(name, text, solution, task, options, **extra)
    assert value == (pytest.approx(expected) if expected is not None else None)
    # geovlm_accuracy dispatches on the task to the same rule (None only for tasks outside the family).
    if expected is not None:
        assert one("geovlm_accuracy", text, solution, task, options, **extra) == pytest.approx(expected)


BOX_FRAME_CASES = [
    # (frame, completion box, image_size, input_size, true box in pixels, expected)
    ("pixels", "[0, 0, 20, 40]", [200, 400], [100, 100], "[0, 0, 20, 40]", 1.0),
    # Qwen2-VL: 0-1000 grid -> 200 x 400 pixels.
    ("grid", "[0, 0, 100, 100]", [200, 400], None, "[0, 0, 20, 40]", 1.0),
    ("grid", "[0, 0, 20, 40]", [200, 400], None, "[0, 0, 20, 40]", pytest.approx(0.08)),  # pixels read as grid
    # Qwen2.5-VL: pixels of the 100 x 100 resized input -> 200 x 400 pixels.
    ("input", "[0, 0, 10, 10]", [200, 400], [100, 100], "[0, 0, 20, 40]", 1.0),
    ("input", "(0,0),(10,10)", [200, 400], [100, 100], "[0, 0, 20, 40]", 1.0),  # Qwen2-VL tuple syntax too
]


@pytest.mark.parametrize("frame, box, image_size, input_size, truth, expected", BOX_FRAME_CASES)
def test_box_frames(frame, box, image_size, input_size, truth, expected):
    options = RewardOptions(box_frame=frame)
    extra = {"image_size": image_size, "input_size": input_size}
    text = f"<answer>{box}</answer>"
    assert one("referring_iou", text, truth, "referring_detection", options, **extra) == expected
    assert one("detection_map", text, truth, "detection", options, **extra) == (1.0 if expected == 1.0 else 0.0)


@pytest.mark.parametrize(
    "frame, image_size, input_size, message",
    [
        ("grid", None, None, "box_frame 'grid' needs the row's image_size"),
        ("input", [200, 400], None, "box_frame 'input' needs the row's input_size"),
    ],
)
def test_box_frames_need_the_sizes(frame, image_size, input_size, message):
    options = RewardOptions(box_frame=frame)
    extra = {"image_size": image_size, "input_size": input_size}
    with pytest.raises(ValueError, match=message):
        one("referring_iou", "[0, 0, 1, 1]", "[0, 0, 1, 1]", "referring_detection", options, **extra)


@needs_java
def test_caption_meteor():
    options = RewardOptions(caption_metric="meteor")
    completions = ["<answer>a plane parked on the apron</answer>", "<answer>forest</answer>", "<answer>x</answer>"]
    values, _ = call(
        "caption",
        completions,
        options,
        solution=["a plane parked on the apron", "a harbour with boats", "x"],
        task=["captioning", "captioning", "counting"],
    )
    assert values == [pytest.approx(1.0), 0.0, None]


def test_geovlm_accuracy_dispatches_on_reward_method_before_task():
    text, solution = "<answer>There are 7.</answer>", "7"
    assert one("geovlm_accuracy", text, solution, "classification") == 0.0
    # VLM-R1's per-record accu_reward_method picks the rule: here counting.
    assert one("geovlm_accuracy", text, solution, "classification", reward_method="counting") == 1.0
    assert one("counting", text, solution, "classification", reward_method="counting") == 1.0
    assert one("classification", text, solution, "classification", reward_method="counting") is None
    for task in ("samchat", "short_answer", "bbox", "open_ended"):
        assert one("geovlm_accuracy", text, solution, task) is None


@pytest.mark.parametrize(
    "question, expected",
    [
        (
            "Classify the given image in one of the following classes. Classes: missile site, farmland, lake. Answer.",
            ["missile site", "farmland", "lake"],
        ),
        ("classes: Forest, road and bridge", ["forest", "road and bridge"]),
        ("Classes: a, b\nAnswer with one word", ["a", "b"]),
        ("Classes: v1.2, v2.", ["v1.2", "v2"]),  # a dot inside a name is not the end of the list
        ("Which class is it?", []),
    ],
)
def test_class_list(question, expected):
    assert class_list(question) == expected


@pytest.mark.parametrize(
    "answer, classes, expected",
    [
        ("Farmland", ["farmland", "lake"], ["farmland"]),
        ("farmland or lake", ["farmland", "lake"], ["farmland", "lake"]),
        ("dense residential", ["residential", "dense residential"], ["dense residential"]),
        ("farmlands", ["farmland"], []),  # whole phrases only
        ("", ["farmland"], []),
    ],
)
def test_named_classes(answer, classes, expected):
    assert named_classes(answer, classes) == expected


# ---------------------------------------------------------------------------------------------------------------
# The rewards and the GeoVLM eval metrics read the same answer the same way.

EVAL_AGREEMENT = [
    # (eval task, metric, reward, completion, solution, row extras)
    ("classification", "accuracy", "classification", "<answer>Farmland.</answer>", "farmland", {}),
    ("classification", "accuracy", "classification", "<answer>lake</answer>", "farmland", {}),
    ("vqa", "accuracy", "classification", "<answer>yes</answer>", "Yes", {}),
    ("multilabel", "f1", "multilabel_f1", "<answer>forest and river</answer>", "forest, lake", {}),
    ("counting", "accuracy", "counting", "<answer>I count 4.</answer>", "4", {}),
    ("captioning", "rouge_l", "caption", "<answer>two planes on an apron</answer>", "two white planes", {}),
    # Detection with no more boxes than true ones: no count penalty, so the reward is the image's AP.
    (
        "detection",
        "mAP@0.5",
        "detection_map",
        "<answer>[9, 9, 20, 20], [0, 0, 10, 10]</answer>",
        "[0, 0, 10, 10], [10, 10, 20, 20]",
        {},
    ),
    (
        "detection",
        "mAP@0.5",
        "detection_map",
        "<answer>[0, 0, 100, 100]</answer>",
        "[0, 0, 10, 10]",
        {"size": [10, 10], "box_frame": "grid"},
    ),
]


@pytest.mark.parametrize("task, metric, reward, text, solution, extra", EVAL_AGREEMENT)
def test_reward_equals_eval_metric_on_one_row(task, metric, reward, text, solution, extra):
    frame = extra.get("box_frame", "pixels")
    eval_row = {"id": "0", "image": "a.jpg", "question": "q", "answer": solution, "prediction": text}
    if "size" in extra:
        eval_row["size"] = extra["size"]
    metrics = EVAL_TASKS[f"geovlm_{task}"].score([eval_row], "strict", ScoreOptions(box_frame=frame, meteor=False))
    value = one(reward, text, solution, task, RewardOptions(box_frame=frame), image_size=extra.get("size"))
    assert value == pytest.approx(metrics[metric])


@pytest.mark.parametrize(
    "predictions, truths",
    [
        ([(0, 0, 10, 10)], [(0, 0, 10, 10)]),
        ([(0, 0, 10, 10)], [(0, 0, 10, 30)]),
        ([(20, 0, 30, 10), (0, 0, 10, 10)], [(0, 0, 10, 10), (20, 0, 30, 20)]),
        ([(0, 0, 10, 10), (0, 0, 9, 9)], [(0, 0, 9, 9), (0, 0, 10, 10)]),
        ([(0, 0, 10, 10)], [(0, 0, 10, 10), (50, 50, 60, 60)]),
        ([(50, 50, 60, 60), (0, 0, 10, 10)], [(0, 0, 12, 12), (0, 0, 10, 10)]),
    ],
)
@pytest.mark.parametrize("threshold", [0.25, 0.5, 0.9])
def test_referring_matching_is_eval_matching(predictions, truths, threshold):
    # acc@t of eval (every true box matched at IoU >= t) <=> every matched IoU of the reward is >= t.
    expected = all_matched(predictions, truths, threshold)
    assert all(iou >= threshold for iou in matched_ious(predictions, truths)) == expected


# ---------------------------------------------------------------------------------------------------------------
# completion_length, score_rows, default_task


@pytest.mark.parametrize(
    "text, max_chars, expected",
    [("", 256, 0.0), ("abcd", 8, 0.5), ("x" * 300, 256, 1.0), ("x" * 64, 256, 0.25)],
)
def test_completion_length(text, max_chars, expected):
    options = RewardOptions(completion_length_max_chars=max_chars)
    assert one("completion_length", text, "", "samchat", options) == expected


SCORE_ROWS = [
    {"completion": "<reasoning>r</reasoning><answer>silo</answer>", "solution": "1", "task": "samchat"},
    {"completion": "<reasoning>r</reasoning><answer>lake</answer>", "solution": "lake", "task": "short_answer"},
    {"completion": "lake", "solution": "lake", "task": "short_answer"},
]


@pytest.mark.parametrize(
    "names, weights, expected",
    [
        (["format", "samchat_keyword"], [1.0, 0.5], [1.5, 1.0, 0.0]),  # None rewards skipped, as TRL's nansum
        (["samchat_keyword"], None, [1.0, None, None]),  # None when no chosen reward applies
        (["samchat_keyword", "tinyrs_accuracy"], [2.0, 1.0], [2.0, 1.0, 1.0]),
        (["format", "format"], [0.25, 0.25], [0.5, 0.5, 0.0]),
    ],
)
def test_score_rows(names, weights, expected):
    assert score_rows(names, weights, SCORE_ROWS, RewardOptions()) == expected


def test_score_rows_checks_names_and_weights():
    with pytest.raises(ValueError, match="2 weights for 1 rewards"):
        score_rows(["format"], [1.0, 2.0], SCORE_ROWS, RewardOptions())
    with pytest.raises(ValueError, match="unknown reward"):
        score_rows(["formats"], None, SCORE_ROWS, RewardOptions())
    with pytest.raises(ValueError, match=r"rows \[1\] have no 'completion'"):
        score_rows(["format"], None, [SCORE_ROWS[0], {"solution": "1"}], RewardOptions())


def test_score_rows_passes_the_judge():
    rows = [{"completion": "<answer>ok</answer>", "solution": "", "task": "open_ended", "question": "q"}]
    assert score_rows(["tinyrs_accuracy"], None, rows, RewardOptions(), FakeJudge(0.4)) == [0.4]


@pytest.mark.parametrize(
    "names, expected",
    [
        (["samchat_keyword"], "samchat"),
        (["format", "tinyrs_accuracy"], "short_answer"),
        (["format", "iou"], "bbox"),
        (["geovlm_accuracy"], "classification"),
        (["format", "completion_length"], None),
    ],
)
def test_default_task(names, expected):
    assert default_task(names) == expected


def test_every_task_is_covered_by_an_accuracy_reward():
    covered = {task for reward in REWARDS.values() for task in reward.tasks}
    assert covered == set(TASKS)


@pytest.mark.parametrize(
    "names, rule_tasks, problem",
    [
        (["format", "samchat_keyword"], {"samchat": 5}, None),
        (["format"], {"counting": 3}, None),  # only rewards that score any row: a smoke test, allowed
        (["format", "geovlm_accuracy"], {"vqa": 2, "yes_no": 1}, None),  # yes_no: a row's reward_method
        (
            ["format", "samchat_keyword"],
            {"samchat": 5, "counting": 3},
            "task 'counting' (3 rows): none of the chosen rewards (format, samchat_keyword) scores it; add one that "
            "does (counting, geovlm_accuracy) to reward_funcs, or leave those rows out",
        ),
        (
            ["tinyrs_accuracy"],
            {"bbox": 1, "vqa": 2, "detection": 1},
            "task 'detection' (1 rows), 'vqa' (2 rows): none of the chosen rewards (tinyrs_accuracy) scores it; add "
            "one that does (classification, detection_map, earthdial_accuracy, earthdial_detection, earthdial_vqa, "
            "geovlm_accuracy) to reward_funcs, or leave those rows out",
        ),
    ],
)
def test_tasks_no_chosen_reward_scores_are_named(names, rule_tasks, problem):
    assert grpo.rewards.unscored_tasks(names, rule_tasks) == problem
