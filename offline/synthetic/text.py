"""The text of the synthetic data, every word derived from a scene description (offline.synthetic.scenes): captions,
chain-of-thought replies, questions and answers of every kind the datasets hold, and the tokenizer corpus.

Positive captions always name a SAMCHAT_KEYWORDS word; negative captions and chain-of-thought replies never contain
one, not even negated (the SAMChat reward and metric test substrings, SPEC 5). Boxes are pixel corners
`[x1, y1, x2, y2]`, except `grid_box`, the TinyRS `{VG}` answer on the 0-1000 grid `[[x1,y1,x2,y2]]` (SPEC 6.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from common.prompts import (
    DEFAULT_SYSTEM,
    QWEN2VL_GROUNDING,
    QWEN2VL_INSTRUCT_GROUNDING,
    REASONING_SYSTEM,
    SAMCHAT_GRPO_SUFFIX,
    SAMCHAT_GRPO_SYSTEM,
    SAMCHAT_KEYWORDS,
    SAMDATA_PROMPT,
    THINK_SYSTEM,
    TINYRS_CLS_PREFIX,
    TINYRS_VG_PREFIX,
    TINYRS_VQA_PREFIX,
)
from common.vocabulary import LHRS_CATEGORY_NAMES
from offline.synthetic.scenes import (
    GSD_METRES,
    KINDS,
    REVETMENT_SHAPES,
    ROOF_COLOURS,
    SCENE_CLASSES,
    box_area,
    box_centre,
    box_region,
    count_of,
    objects_of,
    pick,
    sample_scene,
)

# Singular -> plural of every object category a description can hold.
PLURAL = {
    "revetment": "revetments",
    "control site": "control sites",
    "access road": "access roads",
    "road": "roads",
    "house": "houses",
    "crop field": "crop fields",
    "lake": "lakes",
    "tree": "trees",
}
# Categories the question generators ask about (roads include access roads; see `count_of`).
QUESTION_CATEGORIES = ("revetment", "control site", "road", "house", "crop field", "lake", "tree")
# Categories with several instances per scene: counting, comparison and multi-box detection use them.
COUNTABLE = ("revetment", "house", "crop field", "tree")

_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)


def number_words(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def image_part(region: str) -> str:
    return "centre of the image" if region == "centre" else f"{region} part of the image"


def listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def referring_targets(scene: dict) -> list[tuple[str, list[int]]]:
    """(expression, box) pairs that pick out exactly one object of the scene."""
    targets = []
    size = scene["size"][0]
    for category in ("control site", "lake"):
        objs = objects_of(scene, category)
        if len(objs) == 1:
            targets.append((f"the {category}", objs[0]["box"]))
    for category in ("house", "crop field"):
        objs = sorted(objects_of(scene, category), key=lambda o: box_area(o["box"]), reverse=True)
        if len(objs) == 1:
            targets.append((f"the {category}", objs[0]["box"]))
        elif len(objs) > 1 and box_area(objs[0]["box"]) > 1.05 * box_area(objs[1]["box"]):
            targets.append((f"the largest {category}", objs[0]["box"]))
    revetments = objects_of(scene, "revetment")
    for name, key in (
        ("northernmost", lambda o: box_centre(o["box"])[1]),
        ("westernmost", lambda o: box_centre(o["box"])[0]),
    ):
        ranked = sorted(revetments, key=key)
        if len(ranked) > 1 and key(ranked[1]) - key(ranked[0]) > size * 0.03:
            targets.append((f"the {name} revetment", ranked[0]["box"]))
    return targets


# ---------------------------------------------------------------------------------------------------------------
# Captions and chain-of-thought replies


# Caption sentences by layout. Openings are picked at random (one draw), `{terrain}` filled in; the closing sentence
# of a civilian layout is fixed, a missile site's is picked (after its road sentence, also picked).
CAPTION_OPENINGS = {
    "missile_site": (
        "This aerial image shows a military missile site on open {terrain}.",
        "The image is an overhead view of a surface-to-air missile battery in {terrain} terrain.",
        "This satellite image shows a military installation with missile launch positions on {terrain}.",
    ),
    "farmland": (
        "This aerial image shows a rural farming area on {terrain}.",
        "The image is an overhead view of agricultural land.",
    ),
    "residential": (
        "This aerial image shows an urban residential neighbourhood.",
        "The image is an overhead view of a built-up residential area.",
    ),
    "lakeside": (
        "This aerial image shows a lake in a rural landscape.",
        "The image is an overhead view of a lake beside farmland.",
    ),
}
CAPTION_SITE_ROADS = (
    "Access roads radiate from the control site to each revetment.",
    "Each revetment is linked to the centre by its own access road.",
)
CAPTION_CLOSINGS = {
    "missile_site": (
        "The ring of hardened launch positions is typical of a missile site.",
        "Such a layout indicates a military launch site rather than a civilian facility.",
    ),
    "farmland": "The scene is an ordinary civilian agricultural landscape.",
    "residential": "The dense housing indicates a civilian residential district.",
    "lakeside": "The area is a quiet civilian countryside.",
}


def _houses_phrase(houses: Sequence[dict]) -> str:
    return f"{capitalise(number_words(len(houses)))} small {'house' if len(houses) == 1 else 'houses'}"


def _site_sentences(scene: dict, rng: np.random.Generator) -> list[str]:
    size = scene["size"][0]
    control = objects_of(scene, "control site")[0]["box"]
    sentences = [
        f"{capitalise(number_words(count_of(scene, 'revetment')))} launcher revetments, {scene['revetment_shape']} "
        "concrete emplacements, are arranged in a ring around a central control site.",
        pick(rng, CAPTION_SITE_ROADS),
        f"The control site lies in the {image_part(box_region(control, size))}.",
    ]
    if scene["camouflaged"]:
        hidden = any(o.get("occluded") for o in objects_of(scene, "revetment"))
        sentences.append(
            "The revetments are camouflaged and blend with the surrounding ground"
            + (", and tree cover partly hides one of them." if hidden else ".")
        )
    return sentences


def _farmland_sentences(scene: dict) -> list[str]:
    houses, fields = objects_of(scene, "house"), objects_of(scene, "crop field")
    orientation = fields[0]["orientation"] if fields else "east-west"
    colours = sorted({f["colour"] for f in fields})
    sentences = [
        f"{capitalise(number_words(len(fields)))} crop fields in {listing(colours)} stripes run {orientation} across "
        "the scene.",
        "A paved road crosses the fields.",
    ]
    if houses:
        roofs = listing(sorted({h["colour"] for h in houses}))
        stand = "roof stands" if len(houses) == 1 else "roofs stand"
        sentences.append(f"{_houses_phrase(houses)} with {roofs} {stand} beside the road.")
    return sentences


def _residential_sentences(scene: dict) -> list[str]:
    houses = objects_of(scene, "house")
    return [
        f"{capitalise(number_words(len(houses)))} houses with {listing(sorted({h['colour'] for h in houses}))} roofs "
        "are arranged in blocks.",
        f"{capitalise(number_words(count_of(scene, 'road')))} paved roads form a street grid.",
    ]


def _lakeside_sentences(scene: dict) -> list[str]:
    size = scene["size"][0]
    houses, fields = objects_of(scene, "house"), objects_of(scene, "crop field")
    lake = objects_of(scene, "lake")[0]["box"]
    percent = round(100 * math.pi / 4 * box_area(lake) / size**2)
    sentences = [
        f"The lake lies in the {image_part(box_region(lake, size))} and covers about {percent} percent of the scene.",
        f"{capitalise(number_words(len(fields)))} crop fields lie on the other side of a paved road.",
    ]
    if houses:
        sentences.append(f"{_houses_phrase(houses)} stand near the road.")
    return sentences


CIVILIAN_SENTENCES = {
    "farmland": _farmland_sentences,
    "residential": _residential_sentences,
    "lakeside": _lakeside_sentences,
}


def caption(scene: dict, rng: np.random.Generator) -> str:
    """A 4-6 sentence caption (the SAMData prompt asks for 4-6 sentences); positives name a SAMChat keyword."""
    layout = scene["layout"]
    opening = pick(rng, CAPTION_OPENINGS[layout]).format(terrain=scene["terrain"])
    if scene["label"]:
        return " ".join([opening, *_site_sentences(scene, rng), pick(rng, CAPTION_CLOSINGS[layout])])
    sentences = [opening, *CIVILIAN_SENTENCES[layout](scene)]
    trees = count_of(scene, "tree")
    if trees and len(sentences) < 5:
        sentences.append(
            f"{capitalise(number_words(trees))} {'tree grows' if trees == 1 else 'trees grow'} in the area."
        )
    return " ".join([*sentences, CAPTION_CLOSINGS[layout]])


def summary(scene: dict) -> str:
    """One-sentence answer of a chain-of-thought reply, its class in its first word (see `reasoning`)."""
    if scene["label"]:
        n = count_of(scene, "revetment")
        return (
            f"Military missile site: {number_words(n)} launcher revetments in a ring around a control site, "
            "linked by access roads."
        )
    return {
        "farmland": "Civilian farmland with crop fields, a road and a few houses.",
        "residential": "Civilian residential area with houses along a street grid.",
        "lakeside": "Civilian rural landscape with a lake, crop fields and a road.",
    }[scene["layout"]]


def reasoning(scene: dict) -> str:
    """The chain of thought that leads from what is visible to the scene's class.

    The class shows in the first word, and no phrase is shared by both classes' texts after it, so every later word
    follows from the words just before it: a ~200k-parameter model that learns the first word from the image then
    writes the rest from its own text, where a phrase shared by both classes (once, "seen from above. I ...")
    left it to decide again from the image and it decided differently on unseen images at some seeds.
    """
    terrain = scene["terrain"]
    if scene["label"]:
        n = count_of(scene, "revetment")
        steps = [
            f"A ring of {number_words(n)} bright {scene['revetment_shape']} concrete structures lies on {terrain} "
            "terrain.",
            "Each stands at the same distance from the control site in the middle.",
            "Access roads join every structure to the centre.",
        ]
        if scene["camouflaged"]:
            steps.append("The structures are faint because they are camouflaged, but the ring is still visible.")
        steps.append("Hardened emplacements in a ring around a control site are the signature of a missile site.")
        return " ".join(steps)
    houses, fields = count_of(scene, "house"), count_of(scene, "crop field")
    steps = [f"The image shows {terrain} seen from above."]
    if fields:
        steps.append(f"I count {number_words(fields)} crop fields in parallel stripes.")
    if count_of(scene, "lake"):
        steps.append("A lake takes up part of the scene.")
    steps.append(
        f"There {'is' if houses == 1 else 'are'} {number_words(houses)} {'house' if houses == 1 else 'houses'} "
        f"and {number_words(count_of(scene, 'road'))} paved {'road' if count_of(scene, 'road') == 1 else 'roads'}."
    )
    steps.append("Every structure is an ordinary building, with nothing in formation.")
    steps.append(f"This is the layout of {'a town' if scene['setting'] == 'urban' else 'the countryside'}.")
    return " ".join(steps)


def cot_reply(scene: dict) -> str:
    """SAMData CoT caption: `<reasoning>...</reasoning><answer>summary</answer>`."""
    return f"<reasoning>{reasoning(scene)}</reasoning><answer>{summary(scene)}</answer>"


# ---------------------------------------------------------------------------------------------------------------
# Questions and answers (each returns question text without any image placeholder)


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    kind: str  # presence | comparison | rural_urban | count | classification | grounding | multilabel | detection | mcq
    box: tuple[int, int, int, int] | None = None
    types: tuple[str, ...] = ()  # LHRS-Bench categories of an mcq
    subject: tuple[str, ...] = ()  # object categories the question is about (focus of its chain of thought)


def presence_qa(scene: dict, rng: np.random.Generator) -> QA:
    category = pick(rng, QUESTION_CATEGORIES)
    question = pick(rng, (f"Is there a {category} in the image?", f"Is a {category} present?"))
    return QA(question, "yes" if count_of(scene, category) else "no", "presence", subject=(category,))


def comparison_qa(scene: dict, rng: np.random.Generator) -> QA:
    a, b = rng.choice(len(COUNTABLE), 2, replace=False)
    first, second = COUNTABLE[int(a)], COUNTABLE[int(b)]
    na, nb = count_of(scene, first), count_of(scene, second)
    if rng.random() < 0.5:
        question, answer = f"Are there more {PLURAL[first]} than {PLURAL[second]}?", na > nb
    else:
        question, answer = f"Is the number of {PLURAL[first]} equal to the number of {PLURAL[second]}?", na == nb
    return QA(question, "yes" if answer else "no", "comparison", subject=(first, second))


def rural_urban_qa(scene: dict) -> QA:
    return QA("Is this a rural or an urban area?", scene["setting"], "rural_urban")


def count_qa(scene: dict, rng: np.random.Generator) -> QA:
    present = [c for c in COUNTABLE if count_of(scene, c)] or list(COUNTABLE)
    category = pick(rng, present)
    return QA(
        f"How many {PLURAL[category]} are there in the image?",
        str(count_of(scene, category)),
        "count",
        subject=(category,),
    )


def classification_qa(scene: dict, class_names: Sequence[str] = SCENE_CLASSES) -> QA:
    """`class_names` renames SCENE_CLASSES (same order), as each benchmark spells its labels its own way."""
    names = dict(zip(SCENE_CLASSES, class_names))
    question = (
        "Classify the given image in one of the following classes. Classes: "
        f"{', '.join(class_names)}. Answer with one word or short phrase."
    )
    return QA(question, names[scene["scene_class"]], "classification")


def grounding_qa(scene: dict, rng: np.random.Generator) -> QA | None:
    targets = referring_targets(scene)
    if not targets:
        return None
    expression, box = targets[int(rng.integers(len(targets)))]
    return QA(expression, format_box(box), "grounding", box=tuple(box))


def multilabel_qa(scene: dict) -> QA:
    labels = [c for c in QUESTION_CATEGORIES if count_of(scene, c)]
    question = (
        "Which of the following objects appear in the image: "
        f"{', '.join(QUESTION_CATEGORIES)}? Answer with a comma-separated list."
    )
    return QA(question, ", ".join(sorted(labels)), "multilabel", subject=tuple(labels))


def detection_qa(scene: dict, rng: np.random.Generator) -> QA:
    present = [c for c in COUNTABLE if count_of(scene, c)]
    category = pick(rng, present)
    boxes = [o["box"] for o in objects_of(scene, category)]
    question = f"Detect every {category} in the image. Output one [x1, y1, x2, y2] box per {category}."
    return QA(question, ", ".join(format_box(b) for b in boxes), "detection", subject=(category,))


def format_box(box: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(v)) for v in box) + "]"


def grid_box(box: Sequence[int], size: Sequence[int]) -> str:
    """TinyRS `{VG}` answer: `[[x1,y1,x2,y2]]` on the 0-1000 grid (SPEC 6.2)."""
    w, h = size
    values = (box[0] / w, box[1] / h, box[2] / w, box[3] / h)
    return "[[" + ",".join(str(round(v * 1000)) for v in values) + "]]"


class MCQ(NamedTuple):
    """An LHRS-Bench style question: its text (`{...}` fields filled from the scene), the wrong options offered
    beside the right one, its LHRS category ids, and the right answer where it does not depend on the scene."""

    question: str
    wrong: tuple[str, ...]
    types: tuple[str, ...]
    answer: str | None = None


_ANY_OBJECT = ("crop field", "lake", "house", "control site", "revetment", "tree")
_PLACES = ("centre", "north-west", "north-east", "south-west", "south-east", "north", "south")
MCQS = {
    "scene": MCQ("What kind of scene does the image show?", SCENE_CLASSES, ("1",)),
    "gsd": MCQ(
        "What ground sample distance does the image most likely have?",
        tuple(f"{g:g} m" for g in (*GSD_METRES, 4.0)),
        ("8",),
    ),
    "sensor": MCQ(
        "Which sensor most likely took this image?",
        ("synthetic aperture radar", "thermal infrared camera", "lidar"),
        ("9",),
        "optical RGB camera",
    ),
    "site": MCQ("Is the site in the image civilian or military?", ("civilian", "military"), ("11",)),
    "count": MCQ("How many {plural} are visible?", (), ("5",)),  # wrong options: counts near the right one
    "revetment_shape": MCQ("What shape are the revetments?", (*REVETMENT_SHAPES, "rectangular", "triangular"), ("4",)),
    "site_roads": MCQ(
        "How are the access roads laid out?",
        ("parallel east-west", "parallel north-south", "in a square grid"),
        ("3",),
        "radiating from the centre",
    ),
    "revetment_colour": MCQ(
        "What colour are the revetment walls?", ("dark green", "red", "blue"), ("2",), "light grey"
    ),
    "roof_colour": MCQ("What colour are the house roofs?", (*ROOF_COLOURS, "blue"), ("2",)),
    "house_shape": MCQ(
        "What shape are the houses seen from above?", ("circular", "triangular", "U-shaped"), ("4",), "rectangular"
    ),
    "stripes": MCQ(
        "In which direction do the crop field stripes run?", ("east-west", "north-south", "diagonal"), ("3",)
    ),
    "largest": MCQ("Which single object covers the largest area?", _ANY_OBJECT, ("6",)),
    "where": MCQ("Where is {expression} located?", tuple(image_part(p) for p in _PLACES), ("10",)),
    "closer": MCQ("Which is closer to the centre of the image, {a} or {b}?", (), ("7", "10")),  # wrong: a, b
}


def _mcq(rng: np.random.Generator, question: str, correct: str, wrong: Sequence[str], types: Sequence[str]) -> QA:
    options = [correct, *[w for w in dict.fromkeys(wrong) if w != correct][:3]]
    order = rng.permutation(len(options))
    shuffled = [options[int(i)] for i in order]
    letters = "ABCD"[: len(shuffled)]
    lines = [question] + [f"{letter}. {option}" for letter, option in zip(letters, shuffled)]
    lines.append("Answer with the option's letter from the given choices directly.")
    return QA("\n".join(lines), letters[shuffled.index(correct)], "mcq", types=tuple(types))


class Candidate(NamedTuple):
    """An MCQS question a scene can answer: its key, and what the scene sets (None: the table's)."""

    key: str
    answer: str | None = None
    fields: dict[str, str] | None = None  # the question's `{...}` fields
    wrong: Sequence[str] | None = None


def _civilian_candidates(scene: dict) -> list[Candidate]:
    houses, fields = objects_of(scene, "house"), objects_of(scene, "crop field")
    found: list[Candidate] = []
    if houses:
        if len({h["colour"] for h in houses}) == 1:
            found.append(Candidate("roof_colour", houses[0]["colour"]))
        found.append(Candidate("house_shape"))
    if fields:
        found.append(Candidate("stripes", fields[0]["orientation"]))
    return found


def _place_candidates(scene: dict) -> list[Candidate]:
    size = scene["size"][0]
    targets = referring_targets(scene)
    found: list[Candidate] = []
    if targets:
        expression, box = targets[0]
        found.append(Candidate("where", image_part(box_region(box, size)), {"expression": expression}))
    if len(targets) > 1:
        (name_a, box_a), (name_b, box_b) = targets[0], targets[1]
        centre = (size / 2, size / 2)
        da, db = math.dist(box_centre(box_a), centre), math.dist(box_centre(box_b), centre)
        if abs(da - db) > size * 0.03:
            closer = name_a if da < db else name_b
            found.append(Candidate("closer", closer, {"a": name_a, "b": name_b}, [name_a, name_b]))
    return found


def mcq_candidates(scene: dict, rng: np.random.Generator) -> list[Candidate]:
    """Every MCQS question the scene can answer, in a fixed order (one draw of `rng` picks the counted category)."""
    found: list[Candidate] = [
        Candidate("scene", scene["scene_class"]),
        Candidate("gsd", f"{scene['gsd']:g} m"),
        Candidate("sensor"),
        Candidate("site", "military" if scene["label"] else "civilian"),
    ]
    countable = [c for c in COUNTABLE if count_of(scene, c)]
    if countable:
        category = pick(rng, countable)
        n = count_of(scene, category)
        near = [str(n + 1), str(n + 2), str(max(0, n - 1)), str(n + 3)]
        found.append(Candidate("count", str(n), {"plural": PLURAL[category]}, near))
    if scene["label"]:
        found += [
            Candidate("revetment_shape", scene["revetment_shape"]),
            Candidate("site_roads"),
            Candidate("revetment_colour"),
        ]
    else:
        found += _civilian_candidates(scene)
    largest = max((o for o in scene["objects"] if "line" not in o), key=lambda o: box_area(o["box"]))
    found.append(Candidate("largest", largest["category"]))
    return found + _place_candidates(scene)


def mcq_qa(scene: dict, rng: np.random.Generator) -> QA:
    """An LHRS-Bench style multiple-choice question; `types` holds its category numbers."""
    candidates = mcq_candidates(scene, rng)
    chosen = candidates[int(rng.integers(len(candidates)))]
    mcq = MCQS[chosen.key]
    return _mcq(
        rng,
        mcq.question.format(**(chosen.fields or {})),
        mcq.answer if chosen.answer is None else chosen.answer,
        mcq.wrong if chosen.wrong is None else chosen.wrong,
        mcq.types,
    )


def scene_qas(scene: dict, rng: np.random.Generator) -> list[QA]:
    """One question of every kind for the scene (grounding omitted when nothing is uniquely nameable)."""
    qas = [
        presence_qa(scene, rng),
        comparison_qa(scene, rng),
        rural_urban_qa(scene),
        count_qa(scene, rng),
        classification_qa(scene),
        multilabel_qa(scene),
        detection_qa(scene, rng),
        mcq_qa(scene, rng),
    ]
    grounding = grounding_qa(scene, rng)
    return qas + ([grounding] if grounding else [])


def qa_reply(scene: dict, qa: QA) -> str:
    """Chain-of-thought reply to `qa`: the scene reasoning, then what the question needs, then the answer."""
    size = scene["size"][0]
    steps = [reasoning(scene)]
    for category in qa.subject:
        n = count_of(scene, category)
        name = category if n == 1 else PLURAL[category]
        steps.append(f"Looking for {PLURAL[category]}, I find {number_words(n)} {name}.")
    if qa.kind == "grounding" and qa.box is not None:
        # No coordinates here: the answer's frame (pixels or the 0-1000 grid) depends on the dataset.
        steps.append(f"{capitalise(qa.question)} lies in the {image_part(box_region(qa.box, size))}.")
    return f"<reasoning>{' '.join(steps)}</reasoning><answer>{qa.answer}</answer>"


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer corpus

_CORPUS_SCENES = 48


def tokenizer_corpus() -> list[str]:
    """Every kind of text the generator writes (captions, chain-of-thought replies, questions, answers, class
    names, prompts and tags) for a fixed set of scenes, so a tiny BPE trained on it covers the synthetic data."""
    rng = np.random.default_rng(20240601)
    texts = [
        DEFAULT_SYSTEM,
        SAMCHAT_GRPO_SYSTEM,
        SAMCHAT_GRPO_SUFFIX,
        SAMDATA_PROMPT,
        REASONING_SYSTEM,
        THINK_SYSTEM,
        QWEN2VL_GROUNDING,
        QWEN2VL_INSTRUCT_GROUNDING,
        TINYRS_CLS_PREFIX,
        TINYRS_VQA_PREFIX,
        TINYRS_VG_PREFIX,
        *SAMCHAT_KEYWORDS,
        *SCENE_CLASSES,
        *LHRS_CATEGORY_NAMES,
    ]
    for i in range(_CORPUS_SCENES):
        scene = sample_scene(KINDS[i % len(KINDS)], rng, size=224)
        texts += [caption(scene, rng), cot_reply(scene)]
        for qa in scene_qas(scene, rng):
            texts += [qa.question, qa.answer, qa_reply(scene, qa)]
            if qa.box is not None:
                texts.append(grid_box(qa.box, scene["size"]))
    return texts


def counts_sentence(scene: dict) -> str:
    parts = [
        f"{number_words(count_of(scene, c))} {c if count_of(scene, c) == 1 else PLURAL[c]}"
        for c in QUESTION_CATEGORIES
        if count_of(scene, c)
    ]
    return listing(parts)
