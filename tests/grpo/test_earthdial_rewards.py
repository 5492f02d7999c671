"""GeoVLM-R1 rewards on EarthDial rows (grpo/rewards/earthdial.py): table-driven, called as trl.GRPOTrainer calls
them, and checked against the EarthDial scorers they are built on."""

import doctest
import json

import pytest

from common import earthdial as scorers
from grpo.rewards import REWARDS, TASKS, RewardOptions, build_reward_funcs
from grpo.rewards import earthdial as module
from grpo.rewards.earthdial import EARTHDIAL_TASKS, offered_classes

OPTIONS = RewardOptions(think_tag="think")
UCM = (
    "[hr_rgb_0.5]  <image> \\n Classify the given image in one of the following classes. Classes:  river, "
    "denseresidential, agricultural, missilesite. \\nAnswer in one word or a short phrase."
)
AID = "Classify the given image in one of the following classes. Classes: Military Site, Farmland, Dense Residential. "
XBD_2 = ' [hr_rgb_temp_0.5] <image>  <image> \\n Are there any buildings affected due to disaster? Please answer yes or no."'
XBD_3 = ' [hr_rgb_temp_0.5] <image> <image> \\n How many building are affected? Please answer none, one, two or many."'
XBD_1 = (
    "[changedet] [hr_rgb_temp_0.5] <image> <image> \\n Analyze the images to identify the type of disaster that "
    "occurred. Options:  volcano, fire, earthquake, flood, tsunami, wind."
)


def answer(text):
    return f"<think>t</think><answer>{text}</answer>"


def reward(name, text, task, solution, **columns):
    (func,) = build_reward_funcs([name], OPTIONS)
    values = func(
        prompts=[[{"role": "user", "content": "q"}]],
        completions=[[{"role": "assistant", "content": answer(text)}]],
        completion_ids=[[1]],
        solution=[solution],
        task=[task],
        reward_method=[None],
        **{key: [value] for key, value in columns.items()},
    )
    return values[0]


def test_docstring_examples():
    failures, _ = doctest.testmod(module)
    assert failures == 0


def test_every_family_has_a_rule_and_a_task_name():
    assert set(EARTHDIAL_TASKS) == {
        "classification",
        "temporal_classification",
        "region_classification",
        "vqa",
        "multilabel",
        "referring_detection",
        "referred_detection",
        "detection",
        "image_captioning",
        "change_captioning",
        "region_captioning",
        "grounding_description",
    }
    assert set(EARTHDIAL_TASKS) <= set(TASKS)
    assert set(REWARDS["earthdial_accuracy"].tasks) == set(EARTHDIAL_TASKS)


OFFERED = [
    # (question, offered answers)
    # UCM: the list ends at the full stop before the literal \n.
    (UCM, ["river", "denseresidential", "agricultural", "missilesite"]),
    # AID: spaced names, the list ends at the final ". ".
    (AID, ["military site", "farmland", "dense residential"]),
    # xBD set 1 says "Options:".
    (XBD_1, ["volcano", "fire", "earthquake", "flood", "tsunami", "wind"]),
    # xBD set 2 / reg_cls_2: "Please answer yes or no.", before the stored quote.
    (XBD_2, ["yes", "no"]),
    # xBD set 3: four count words.
    (XBD_3, ["none", "one", "two", "many"]),
    # A VQA question offers nothing.
    ("[hr_rgb_0.5] <image>\\n Is there a road?", []),
]


@pytest.mark.parametrize(("question", "expected"), OFFERED)
def test_offered_classes(question, expected):
    assert offered_classes(question) == expected


CASES = [
    # (reward, task, answer, solution, extra columns, expected)
    # Classification: token recall, spaces removed on both sides (AID stores "DenseResidential").
    ("earthdial_classification", "classification", "Dense Residential", "DenseResidential", {"question": AID}, 1.0),
    # Several offered classes named: the gate gives 0 where token recall would give 1.
    ("earthdial_classification", "classification", "river, missilesite", "missilesite", {"question": UCM}, 0.0),
    # The gate also sees spaced spellings of run-together names.
    ("earthdial_classification", "classification", "dense residential or river", "river", {"question": UCM}, 0.0),
    # A verbose answer: one token after removing spaces, so token recall is 0 (EARTHDIAL 3.1).
    ("earthdial_classification", "classification", "it is a river", "river", {"question": UCM}, 0.0),
    # A class inside another offered class is not a second class ("port" in "airport", AID has both).
    ("earthdial_classification", "classification", "Airport", "Airport", {"question": "Classes: Airport, Port. "}, 1.0),
    # An empty answer scores 0.
    ("earthdial_classification", "classification", "", "river", {"question": UCM}, 0.0),
    # Temporal classification (xBD set 3 count words): "one" is right, "one or two" names two.
    ("earthdial_classification", "temporal_classification", "one", "one", {"question": XBD_3}, 1.0),
    ("earthdial_classification", "temporal_classification", "one or two", "one", {"question": XBD_3}, 0.0),
    # Region classification: a hyphenated damage class.
    ("earthdial_classification", "region_classification", "major-damage", "major-damage", {"question": ""}, 1.0),
    # VQA Jaccard: exact single word 1, an extra word halves it, a wrong word 0.
    ("earthdial_vqa", "vqa", "Yes", "yes", {}, 1.0),
    ("earthdial_vqa", "vqa", "yes no", "yes", {}, 0.5),
    ("earthdial_vqa", "vqa", "no", "yes", {}, 0.0),
    # Multi-label: label-set F1 (2 of 3 labels, none wrong: 0.8).
    ("earthdial_multilabel", "multilabel", "road, house", "house, road, tree", {}, 0.8),
    # Referring: a rotated box equal to the truth.
    ("earthdial_referring", "referring_detection", "[[10, 10, 30, 20, 45]]", "[[10, 10, 30, 20, 45]]", {}, 1.0),
    # Referring: the same box unrotated against a 90-degree truth of a square: still IoU 1.
    ("earthdial_referring", "referring_detection", "[[0, 0, 10, 10, 0]]", "[[0, 0, 10, 10, 90]]", {}, 1.0),
    # Referring: 4-number boxes are not boxes on this grid.
    ("earthdial_referring", "referring_detection", "[[0, 0, 10, 10]]", "[[0, 0, 10, 10, 0]]", {}, 0.0),
    # Referring: negative numbers are read (the lenient reader); half-overlapping box IoU 1/3.
    ("earthdial_referring", "referred_detection", "[[-5, 0, 5, 10, 0]]", "[[0, 0, 10, 10, 0]]", {}, 1 / 3),
    # Referring: duplicates of one truth do not raise the mean over two truths.
    (
        "earthdial_referring",
        "referring_detection",
        "[[0, 0, 10, 10, 0]][[0, 0, 10, 10, 0]]",
        "[[0, 0, 10, 10, 0]][[50, 50, 60, 60, 0]]",
        {},
        0.5,
    ),
    # Referring: a solution without a box has nothing to score.
    ("earthdial_referring", "referring_detection", "[[0, 0, 10, 10, 0]]", "no box", {}, None),
    # Detection: both boxes found, in either syntax.
    (
        "earthdial_detection",
        "detection",
        "[[0, 0, 10, 10, 0], [20, 20, 30, 30, 0]]",
        "[[20, 20, 30, 30, 0]][[0, 0, 10, 10, 0]]",
        {},
        1.0,
    ),
    # Detection: one hit and one false box out of one truth: recall 1 x penalty 1/2.
    ("earthdial_detection", "detection", "[[0, 0, 10, 10, 0]][[70, 70, 80, 80, 0]]", "[[0, 0, 10, 10, 0]]", {}, 0.5),
    # Detection: an empty answer against boxes is 0 (EarthDial's precision would not count it at all).
    ("earthdial_detection", "detection", "", "[[0, 0, 10, 10, 0]]", {}, 0.0),
    # Detection: an empty scene answered empty.
    ("earthdial_detection", "detection", "none", "", {}, 1.0),
    # Image caption: one of five references matched exactly, the rest empty: ROUGE averaged over the five.
    (
        "earthdial_caption",
        "image_captioning",
        "a plane on the runway",
        "a plane on the runway",
        {"references": ["a plane on the runway", "", "", "", ""]},
        0.2,
    ),
    # Change caption with one reference (the references column holds it).
    (
        "earthdial_caption",
        "change_captioning",
        "three new houses have been built .",
        "Three new houses have been built.",
        {"references": ["Three new houses have been built."]},
        1.0,
    ),
    # Region caption: raw strings, one reference.
    (
        "earthdial_caption",
        "region_captioning",
        "1 white small vehicle at the left",
        "1 white small vehicle at the left",
        {},
        1.0,
    ),
    # Grounding: right boxes and the same description (refs and boxes cleaned away).
    (
        "earthdial_grounding",
        "grounding_description",
        "In the satellite image, there is 1 white small vehicle [[0, 0, 10, 10, 30]] located at left.",
        "In the satellite image, there is <ref>1 white small vehicle </ref> <box>[[[0, 0, 10, 10, 30]]]</box> "
        "located at left.",
        {"obj_ids": json.dumps(["[[0, 0, 10, 10, 30]]"])},
        1.0,
    ),
    # Grounding: no boxes answered: only the description half can score.
    (
        "earthdial_grounding",
        "grounding_description",
        "In the satellite image, there is 1 white small vehicle located at left.",
        "In the satellite image, there is <ref>1 white small vehicle </ref> <box>[[[0, 0, 10, 10, 30]]]</box> "
        "located at left.",
        {"obj_ids": json.dumps(["[[0, 0, 10, 10, 30]]"])},
        0.5,
    ),
    # A reward left out of rows of other tasks (TRL's None).
    ("earthdial_vqa", "classification", "yes", "yes", {"question": ""}, None),
]


@pytest.mark.parametrize(("name", "task", "text", "solution", "columns", "expected"), CASES)
def test_earthdial_rewards(name, task, text, solution, columns, expected):
    value = reward(name, text, task, solution, **columns)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)
    # earthdial_accuracy gives every family the same value as its own reward.
    if expected is not None:
        assert reward("earthdial_accuracy", text, task, solution, **columns) == pytest.approx(expected)


def test_rewards_agree_with_the_metrics():
    # A single-class answer: the reward is the metric's token recall.
    assert module.classification_reward("Betula spec", "Betula spec.", "") == scorers.token_recall(
        "Betula spec.", "Betula spec"
    )
    # Captions: the reward is the metric's ROUGE-1 / ROUGE-L averaged over the references.
    refs = ["a gray plane on the runway .", "there is a plane beside the grass ."]
    rouge1, rouge_l = scorers.rouge_multi("a plane is on the runway", refs)
    assert module.caption_reward("a plane is on the runway", refs) == pytest.approx((rouge1 + rouge_l) / 2)
    # Referring: a perfect single answer is a hit for the metric and 1.0 for the reward.
    truth = "[[12, 30, 40, 44, 37]]"
    metric = scorers.refer_precision([(truth, truth, "small")])
    assert metric["acc@0.5_small"] == 1.0 and module.referring_reward(truth, truth) == 1.0
