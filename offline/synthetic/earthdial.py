"""Synthetic EarthDial-format shards (EARTHDIAL.md 2, 3.x) for every EarthDial-Bench task family, plus EarthDial-style
training shards for GRPO. Written by `offline.synthetic.generate` under `<out>/earthdial/`.

Every shard is a `datasets` save_to_disk folder with EarthDial's exact column names (`jpg` or `jpg_A`..`jpg_D` as
Image features, `question`, `groundtruth` or `groundtruth0..4`, `ttype`, `size_group`, `obj_ids`, `obj_location`,
`obj_name`) and the exact stored question strings of EARTHDIAL 3.x (task and sensor tags, the literal two
characters `\\n`, EarthDial's spacing quirks). Where EarthDial's stored string is not published (BigEarthNet, the
RSVQA-HR tag, the training shards' names), ours is marked "ours" below.

Scenes reuse offline.synthetic.scenes' procedural scenes. On top of them we paint EarthDial-style targets: storage tanks
(circles, theta 0) and vehicles (rectangles rotated by theta), so referring detection, region captioning and
grounding carry real rotated boxes. Boxes are `[x1, y1, x2, y2, theta]` integers on the 0-100 grid (EARTHDIAL 1):
corners of the unrotated box, then rotated about its centre by theta degrees in upstream's convention (corners as
row vectors times `[[cos, -sin], [sin, cos]]`), so the painted shape is exactly the box that EarthDial's IoU sees.

Temporal rows are painted from one scene description twice with the same texture noise, so only the change is
visible: new houses built on farmland (Dubai-CC / LEVIR-MCI / MUDS / SYSU style), buildings damaged or destroyed by
a disaster (xBD), the same site seen four times in different light (FMoW). Every answer, caption, count, damage
class and box is derived from the generator's description.

Layout (EARTHDIAL 2: the Hub folders, with the scripts' shard sub-paths); `EARTHDIAL_SHARDS` lists every shard:

    earthdial/Eardial_downstream_task_datasets/<Task folder>/<dataset path>/   one shard per benchmark set
    earthdial/training_set/<Family>_Shards/<dataset>/                          GRPO training shards (names ours,
                                                                               except Visual_Grounding_Shards/RSVG)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from common.earthdial import rotated_corners
from offline.synthetic.scenes import (
    KINDS,
    ROOF_COLOURS,
    SCENE_CLASSES,
    Context,
    count_of,
    draw_scene,
    pick,
    place_boxes,
    sample_scene,
)
from offline.synthetic.text import (
    QUESTION_CATEGORIES,
    capitalise,
    caption,
    comparison_qa,
    count_qa,
    number_words,
    presence_qa,
    rural_urban_qa,
)

EVAL_ROOT = "earthdial/Eardial_downstream_task_datasets"
TRAIN_ROOT = "earthdial/training_set"

# Size groups from the generator: the longer side of the unrotated box on the 0-100 grid (thresholds ours; the real
# sets take theirs from the data, EARTHDIAL 3.3).
SIZE_LIMITS = ((8, "small"), (16, "medium"))
DAMAGE_CLASSES = ("no-damage", "destroyed", "minor-damage", "major-damage")
DISASTERS = ("volcano", "fire", "earthquake", "flood", "tsunami", "wind")
VEHICLE_COLOURS = {"white": (236, 236, 232), "red": (190, 40, 36), "blue": (44, 70, 170)}
TANK_COLOUR = (226, 226, 220)
RUBBLE = (124, 112, 98)
SCORCH = (48, 40, 34)
FLOOD = (88, 96, 84)

# Class names per benchmark, in the order of offline.synthetic.scenes.SCENE_CLASSES (missile site, farmland, residential
# area, lake): (names listed in the prompt, names stored as ground truth). AID lists spaced names and stores them
# without spaces, WHU lists lower case and stores capitalised names: both quirks are upstream's (EARTHDIAL 3.1
# results, e.g. "Medium Residential" / "MediumResidential").
CLASS_NAMES = {
    "AID": (
        ("Military Site", "Farmland", "Dense Residential", "Pond"),
        ("MilitarySite", "Farmland", "DenseResidential", "Pond"),
    ),
    "UCM": (("missilesite", "agricultural", "denseresidential", "river"),) * 2,
    "WHU_19": (
        ("militarysite", "farmland", "residential", "pond"),
        ("MilitarySite", "Farmland", "Residential", "Pond"),
    ),
    "FMoW": (("military_facility", "crop_field", "multi-unit_residential", "lake_or_pond"),) * 2,
}

# Stored question strings (EARTHDIAL 3.x). `\\n` is the two characters backslash and n, as stored in the shards.
AID_PROMPT = "Classify the given image in one of the following classes. Classes: {classes}. "
UCM_PROMPT = (
    "[hr_rgb_0.5]  <image> \\n Classify the given image in one of the following classes. Classes:  {classes}. "
    "\\nAnswer in one word or a short phrase."
)
# BigEarthNet's stored question is not published: ours, in the UCM style.
BIGEARTHNET_PROMPT = (
    "[hr_rgb_0.5]  <image> \\n Classify the given image into the land-cover classes present. Classes:  {classes}. "
    "\\nAnswer with a comma-separated list."
)
VQA_PREFIX = "[hr_rgb_0.5] <image>\\n "  # RSVQA-LR as stored; the HR prefix is not published and we use the same
GEOCHAT_REFER = "[refer] [hr_rgb_0.5] <image> \\n Give me the location of <ref>{ref}</ref>"
NWPU_REFER = " [refer] [hr_rgb_0.5] <image> \\n <ref>{ref}</ref>"
GEOCHAT_IDENTIFY = " [identify] [hr_rgb_0.5] <image> \\n describe this object in <box>{box}</box>"
NWPU_IDENTIFY = " [identify] [hr_rgb_0.5] <image> \\n what object is in this location <box>{box}</box>"
CAPTION_PROMPT = " [caption] [hr_rgb_0.5] <image> \\n Could you please provide the caption for the input image?"
GROUNDING_PROMPT = " [grounding] [hr_rgb_0.5] <image> \\n Describe the image."
CHANGE_PROMPT = (
    " [changedet] [hr_rgb_temp_0.5] <image> <image> \\n are there any semantic change detected in the provided images?"
)
MUDS_PROMPT = (
    "[changedet] [hr_rgb_temp_0.5] <image> <image> <image> <image> \\n are there any semantic change detected in the "
    "provided images?"
)
SYSU_PROMPT = (
    "[changedet] [hr_rgb_temp_0.5] <image>  <image> \\n are there any semantic change detected in the provided images?"
)
FMOW_PROMPT = (
    "[hr_rgb_temp_0.5]  <image>  <image> <image> <image> \\n Classify the given images in one of the following "
    "classes. Classes:  {classes}. \\nAnswer in one word or a short phrase. "
)
XBD_TYPE_PROMPT = (
    "[changedet] [hr_rgb_temp_0.5] <image> <image> \\n Analyze the images to identify the type of disaster that "
    "occurred. Options:  volcano, fire, earthquake, flood, tsunami, wind."
)
# The stored `"` before the end is upstream's; the test script appends `Answer in single word.` (EARTHDIAL 3.8).
XBD_AFFECTED_PROMPT = ' [hr_rgb_temp_0.5] <image>  <image> \\n Are there any buildings affected due to disaster? Please answer yes or no."'
XBD_COUNT_PROMPT = (
    ' [hr_rgb_temp_0.5] <image> <image> \\n How many building are affected? Please answer none, one, two or many."'
)
XBD_REG_CLS_1_PROMPT = (
    "[identify] [hr_rgb_temp_0.5] <image> <image> \\n Compare the building at <box>{box}</box> between the "
    "pre-disaster and post-disaster images. In the post-disaster image, classify the level of damage. Classes: "
    'no-damage, destroyed, minor-damage, major-damage."'
)
XBD_REG_CLS_2_PROMPT = (
    "[identify] [hr_rgb_temp_0.5] <image> \\n Is this building  at <box>{box}</box> affected due to disaster in the "
    'second image? Please answer yes or no."'
)
XBD_CAPTION_PROMPT = (
    "[grounding] [hr_rgb_temp_0.5] <image> <image> \\n Please describe the damage observed in the post-disaster image."
)
XBD_OD_PROMPT = (
    "[refer] [hr_rgb_temp_0.5] <image> <image> \\n Locate all {size} <ref>buildings</ref> in the post-disaster image."
)
XBD_ROD_PROMPT = (
    "[refer] [hr_rgb_temp_0.5] <image> <image> \\n Identify the <ref>{damage} building</ref> at {location} of the "
    "post-disaster image."
)

NO_CHANGE_CAPTIONS = (
    "Nothing has changed in this area.",
    "There is no difference.",
    "The scene is the same as before.",
    "No change has occurred.",
    "The two images look identical.",
)


# ---------------------------------------------------------------------------------------------------------------
# Geometry on the 0-100 grid


def grid100(box: Sequence[float], size: int) -> list[int]:
    """Pixel corners of a `size`-pixel square image -> integers on the 0-100 grid."""
    return [int(round(v * 100 / size)) for v in box]


def format_box(box: Sequence[int], theta: int = 0) -> str:
    """One EarthDial box: `[[x1, y1, x2, y2, theta]]`."""
    return "[[" + ", ".join(str(int(v)) for v in (*box, theta)) + "]]"


def size_group(grid_box: Sequence[int]) -> str:
    side = max(grid_box[2] - grid_box[0], grid_box[3] - grid_box[1])
    return next((name for limit, name in SIZE_LIMITS if side < limit), "large")


def location(grid_box: Sequence[int]) -> str:
    """EarthDial's location words ("top left", "center", "right", ...) for a box centre on the 0-100 grid."""
    x, y = (grid_box[0] + grid_box[2]) / 2, (grid_box[1] + grid_box[3]) / 2
    row = "top" if y < 100 / 3 else ("bottom" if y > 200 / 3 else "")
    col = "left" if x < 100 / 3 else ("right" if x > 200 / 3 else "")
    return " ".join(p for p in (row, col) if p) or "center"


# ---------------------------------------------------------------------------------------------------------------
# Scenes with EarthDial targets


@dataclass(frozen=True)
class Target:
    name: str  # "storage tank" | "vehicle" | "building"
    colour: str
    pixels: tuple[float, float, float, float]  # unrotated corners in pixels
    box: tuple[int, int, int, int]  # the same on the 0-100 grid
    theta: int

    @property
    def size(self) -> str:
        return size_group(self.box)

    @property
    def location(self) -> str:
        return location(self.box)

    @property
    def text(self) -> str:
        return format_box(self.box, self.theta)


def _buildings(scene: dict) -> list[Target]:
    size = scene["size"][0]
    return [
        Target("building", o["colour"], tuple(o["box"]), tuple(grid100(o["box"], size)), 0)
        for o in scene["objects"]
        if o["category"] == "house"
    ]


def _place_targets(scene: dict, rng: np.random.Generator) -> list[Target]:
    """Storage tanks and rotated vehicles on free ground (away from houses, lakes, trees and revetments)."""
    size = scene["size"][0]
    avoid = [o["box"] for o in scene["objects"] if o["category"] not in ("crop field", "road", "access road")]
    targets = []
    n_tanks, n_vehicles = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    spots = place_boxes(rng, n_tanks + n_vehicles, (size * 0.08, size * 0.13), (2, 2, size - 2, size - 2), avoid, size)
    for k, (x1, y1, x2, y2) in enumerate(spots):
        cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, min(x2 - x1, y2 - y1)
        if k < n_tanks:
            half = side / 2
            pixels, theta, name, colour = (cx - half, cy - half, cx + half, cy + half), 0, "storage tank", "white"
        else:
            # A vehicle's rotated footprint fits in its spot: half-diagonal <= half the spot's side.
            w, h = side * 0.85, side * 0.4
            pixels = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            theta, name, colour = int(rng.integers(0, 91)), "vehicle", pick(rng, list(VEHICLE_COLOURS))
        targets.append(Target(name, colour, pixels, tuple(grid100(pixels, size)), theta))
    return targets


def _paint_targets(image: Image.Image, targets: Sequence[Target]) -> Image.Image:
    image = image.copy()
    draw = ImageDraw.Draw(image)
    for t in targets:
        if t.name == "storage tank":
            draw.ellipse(t.pixels, fill=TANK_COLOUR, outline=(150, 150, 146))
        elif t.name == "vehicle":
            draw.polygon(rotated_corners(t.pixels, t.theta), fill=VEHICLE_COLOURS[t.colour])
    return image


def _target_scene(
    ctx: Context, section: str, index: int
) -> tuple[Image.Image, dict, list[Target], np.random.Generator]:
    image, scene, rng = ctx.scene(section, index, KINDS[index % len(KINDS)])
    targets = _place_targets(scene, rng)
    return _paint_targets(image, targets), scene, targets + _buildings(scene), rng


def _groups(targets: Sequence[Target]) -> list[tuple[str, list[Target]]]:
    """Targets grouped as EarthDial's referring expressions name them: `N colour size name` at a location."""
    groups: dict[tuple, list[Target]] = {}
    for t in targets:
        groups.setdefault((t.name, t.colour, t.size, t.location), []).append(t)
    return [(f"{len(ts)} {key[1]} {key[2]} {key[0]}", ts) for key, ts in groups.items()]


# ---------------------------------------------------------------------------------------------------------------
# Temporal scenes


def _draw_twice(scene_a: dict, scene_b: dict, rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """Both descriptions painted with the same texture noise: only what differs between them differs in pixels."""
    twin = copy.deepcopy(rng)
    return draw_scene(scene_a, rng), draw_scene(scene_b, twin)


def _farmland(ctx: Context, section: str, index: int) -> tuple[dict, np.random.Generator]:
    rng = ctx.rng(section, index)
    for _ in range(50):
        scene = sample_scene("negative", rng, ctx.image_size)
        if scene["layout"] in ("farmland", "lakeside"):
            return scene, rng
    raise RuntimeError(f"{section}[{index}]: no farmland scene in 50 draws")


def _build_houses(scene: dict, rng: np.random.Generator, n: int) -> tuple[dict, list[list[int]]]:
    """The scene after `n` (or fewer, where space runs out) new houses were built on free ground."""
    size = scene["size"][0]
    avoid = [o["box"] for o in scene["objects"] if o["category"] not in ("crop field",)]
    boxes = place_boxes(rng, n, (size * 0.05, size * 0.08), (2, 2, size - 2, size - 2), avoid, size)
    colour = pick(rng, list(ROOF_COLOURS))
    after = copy.deepcopy(scene)
    after["objects"] += [{"category": "house", "box": b, "colour": colour} for b in boxes]
    return after, boxes


def _change_captions(built: Sequence[Sequence[int]], size: int, rng: np.random.Generator) -> list[str]:
    if not built:
        return list(NO_CHANGE_CAPTIONS)
    n = len(built)
    where = location(grid100(built[0], size))
    noun = "house" if n == 1 else "houses"
    words = number_words(n)
    captions = [
        f"{capitalise(words)} new {noun} {'has' if n == 1 else 'have'} been built.",
        f"{capitalise(words)} {noun} {'was' if n == 1 else 'were'} constructed on the farmland.",
        f"Some buildings appeared at the {where} of the scene.",
        f"The farmland is partly replaced by {words} {noun}.",
        f"{capitalise(words)} {noun} {'appears' if n == 1 else 'appear'} in the area.",
    ]
    return [captions[int(i)] for i in rng.permutation(len(captions))]


def change_pair(ctx: Context, section: str, index: int, n_images: int) -> tuple[list[Image.Image], list[str]]:
    """Pre / post images (or four, houses appearing over time) and five references; every other row unchanged."""
    scene, rng = _farmland(ctx, section, index)
    size = scene["size"][0]
    n = 0 if index % 2 == 0 else int(rng.integers(1, 4))
    scenes, built = [scene], []
    for step in range(1, n_images):
        share = n * step // (n_images - 1) - len(built)
        after, boxes = _build_houses(scenes[-1], rng, share)
        scenes.append(after)
        built += boxes
    images = [draw_scene(s, copy.deepcopy(rng)) for s in scenes]
    return images, _change_captions(built, size, rng)


def _damage(image: Image.Image, building: Target, damage: str, disaster: str, rng: np.random.Generator) -> None:
    draw = ImageDraw.Draw(image)
    x1, y1, x2, y2 = building.pixels
    if damage == "destroyed":
        draw.rectangle((x1, y1, x2, y2), fill=RUBBLE)
        for _ in range(6):
            px, py = rng.uniform(x1, x2), rng.uniform(y1, y2)
            draw.point((px, py), fill=(70, 62, 54))
    elif damage == "major-damage":
        draw.rectangle((x1, y1, (x1 + x2) / 2, y2), fill=RUBBLE)
    elif damage == "minor-damage":
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        draw.rectangle((cx - 1, cy - 1, cx + 1, cy + 1), fill=SCORCH if disaster == "fire" else RUBBLE)


@dataclass
class Disaster:
    pre: Image.Image
    post: Image.Image
    kind: str
    buildings: list[Target]
    damage: list[str]  # per building, DAMAGE_CLASSES

    @property
    def affected(self) -> list[Target]:
        return [b for b, d in zip(self.buildings, self.damage) if d != "no-damage"]


def disaster_pair(ctx: Context, section: str, index: int) -> Disaster:
    """A residential scene before and after a disaster; about half the buildings damaged, a third of rows none."""
    rng = ctx.rng(section, index)
    for _ in range(50):
        scene = sample_scene("negative", rng, ctx.image_size)
        if scene["layout"] == "residential":
            break
    kind = DISASTERS[index % len(DISASTERS)]
    pre, post = _draw_twice(scene, scene, rng)
    buildings = _buildings(scene)
    spared = index % 3 == 0
    damage = ["no-damage" if spared or rng.random() < 0.5 else pick(rng, DAMAGE_CLASSES[1:]) for _ in buildings]
    if kind == "flood" and not spared:
        # Flood water over the lower part of the scene: visible even where no building is hit.
        overlay = Image.new("RGB", post.size, FLOOD)
        mask = Image.new("L", post.size, 0)
        ImageDraw.Draw(mask).rectangle((0, post.height * 2 // 3, post.width, post.height), fill=150)
        post.paste(overlay, (0, 0), mask)
    for building, level in zip(buildings, damage):
        if level != "no-damage":
            _damage(post, building, level, kind, rng)
    return Disaster(pre, post, kind, buildings, damage)


def _count_word(n: int) -> str:
    return ("none", "one", "two")[n] if n < 3 else "many"


# ---------------------------------------------------------------------------------------------------------------
# Rows per task family. Each maker returns (images by column, text columns) for row `index`.

Row = tuple[dict[str, Image.Image], dict[str, str]]


def _classes(dataset: str, rng: np.random.Generator, shuffle: bool) -> tuple[str, dict[str, str]]:
    listed, stored = CLASS_NAMES[dataset]
    order = rng.permutation(len(listed)) if shuffle else range(len(listed))
    by_class = dict(zip(SCENE_CLASSES, stored))
    return ", ".join(listed[int(i)] for i in order), by_class


def classification_row(dataset: str) -> Callable[[Context, str, int], Row]:
    def make(ctx: Context, section: str, index: int) -> Row:
        image, scene, rng = ctx.scene(section, index, KINDS[index % len(KINDS)])
        # AID's class list is fixed; UCM and WHU shuffle it per sample (EARTHDIAL 3.1).
        classes, by_class = _classes(dataset, rng, shuffle=dataset != "AID")
        prompt = AID_PROMPT if dataset == "AID" else UCM_PROMPT
        return {"jpg": image}, {
            "question": prompt.format(classes=classes),
            "groundtruth": by_class[scene["scene_class"]],
        }

    return make


def multilabel_row(ctx: Context, section: str, index: int) -> Row:
    image, scene, _ = ctx.scene(section, index, KINDS[index % len(KINDS)])
    labels = [c for c in QUESTION_CATEGORIES if count_of(scene, c)]
    question = BIGEARTHNET_PROMPT.format(classes=", ".join(QUESTION_CATEGORIES))
    return {"jpg": image}, {"question": question, "groundtruth": ", ".join(labels)}


VQA_TYPES = ("presence", "comp", "rural_urban", "count")


def vqa_row(low_resolution: bool) -> Callable[[Context, str, int], Row]:
    def make(ctx: Context, section: str, index: int) -> Row:
        image, scene, rng = ctx.scene(section, index, KINDS[index % len(KINDS)])
        ttype = VQA_TYPES[index % len(VQA_TYPES)]
        qa = {
            "presence": lambda: presence_qa(scene, rng),
            "comp": lambda: comparison_qa(scene, rng),
            "rural_urban": lambda: rural_urban_qa(scene),
            "count": lambda: count_qa(scene, rng),
        }[ttype]()
        if low_resolution:
            # RSVQA-LR is Sentinel-2 (10 m): coarser pixels, as offline.synthetic's ScoreRS LR sets.
            image = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
        return {"jpg": image}, {"question": VQA_PREFIX + qa.question, "groundtruth": qa.answer, "ttype": ttype}

    return make


def referring_row(style: str) -> Callable[[Context, str, int], Row]:
    def make(ctx: Context, section: str, index: int) -> Row:
        image, _, targets, rng = _target_scene(ctx, section, index)
        groups = _groups(targets)
        phrase, members = groups[int(rng.integers(len(groups)))]
        where = members[0].location
        ref = f"{phrase} at the {where}" if where != "center" else f"{phrase} at the center"
        template = GEOCHAT_REFER if style == "geochat" else NWPU_REFER
        return {"jpg": image}, {
            "question": template.format(ref=ref),
            "groundtruth": "".join(t.text for t in members),
            # GeoChat's two ttypes (EARTHDIAL 2): ours "ref" for one object, "grounding" for a group.
            "ttype": "ref" if len(members) == 1 else "grounding",
            "size_group": members[0].size,
        }

    return make


def region_row(style: str) -> Callable[[Context, str, int], Row]:
    def make(ctx: Context, section: str, index: int) -> Row:
        image, _, targets, rng = _target_scene(ctx, section, index)
        target = targets[int(rng.integers(len(targets)))]
        template = GEOCHAT_IDENTIFY if style == "geochat" else NWPU_IDENTIFY
        return {"jpg": image}, {
            "question": template.format(box=target.text),
            "groundtruth": f"1 {target.colour} {target.size} {target.name} at the {target.location}",
            "ttype": "ref",
            "size_group": target.size,
        }

    return make


def image_caption_row(ctx: Context, section: str, index: int) -> Row:
    image, scene, rng = ctx.scene(section, index, KINDS[index % len(KINDS)])
    # Five references: the caption generator's variants (first sentences chosen independently).
    references = {f"groundtruth{k}": caption(scene, rng) for k in range(5)}
    return {"jpg": image}, {"question": CAPTION_PROMPT, **references}


def grounding_row(ctx: Context, section: str, index: int) -> Row:
    image, _, targets, _ = _target_scene(ctx, section, index)
    groups = _groups(targets)
    parts = [
        f" <ref>{phrase} </ref> <box>[{''.join(t.text for t in members)}]</box> located at {members[0].location}"
        for phrase, members in groups
    ]
    description = "In the satellite image, there is " + ", ".join(parts) + "."
    return {"jpg": image}, {
        "question": GROUNDING_PROMPT,
        "groundtruth": description,
        "obj_ids": json.dumps(["".join(t.text for t in members) for _, members in groups]),
        "size_group": json.dumps([members[0].size for _, members in groups]),
        "obj_location": json.dumps([members[0].location for _, members in groups]),
        "obj_name": json.dumps([members[0].name for _, members in groups]),
    }


def change_row(n_images: int, prompt: str, references: str) -> Callable[[Context, str, int], Row]:
    """references: "five" (groundtruth0..4), "single" (groundtruth) or "sysu" (one caption stored as `'["..."]'`,
    EarthDial's SYSU quirk, EARTHDIAL 3.6)."""

    def make(ctx: Context, section: str, index: int) -> Row:
        images, captions = change_pair(ctx, section, index, n_images)
        columns = dict(zip(syn_image_columns(n_images), images))
        if references == "five":
            return columns, {"question": prompt, **{f"groundtruth{k}": c for k, c in enumerate(captions)}}
        text = json.dumps([captions[0]]) if references == "sysu" else captions[0]
        return columns, {"question": prompt, "groundtruth": text}

    return make


def syn_image_columns(n_images: int) -> tuple[str, ...]:
    return ("jpg_A", "jpg_B", "jpg_C", "jpg_D")[:n_images]


def fmow_row(ctx: Context, section: str, index: int) -> Row:
    """One site seen four times: the same description, other texture noise and light each time."""
    _, scene, rng = ctx.scene(section, index, KINDS[index % len(KINDS)])
    classes, by_class = _classes("FMoW", rng, shuffle=False)
    images = []
    for k in range(4):
        view = draw_scene(scene, np.random.default_rng([ctx.seed, index, k]))
        images.append(Image.eval(view, lambda v, gain=0.85 + 0.1 * k: min(255, int(v * gain))))
    columns = dict(zip(syn_image_columns(4), images))
    return columns, {"question": FMOW_PROMPT.format(classes=classes), "groundtruth": by_class[scene["scene_class"]]}


def xbd_row(task: str) -> Callable[[Context, str, int], Row]:
    def make(ctx: Context, section: str, index: int) -> Row:
        event = disaster_pair(ctx, section, index)
        columns = {"jpg_A": event.pre, "jpg_B": event.post}
        rng = ctx.rng(section + "/pick", index)
        affected = event.affected
        if task == "type":
            return columns, {"question": XBD_TYPE_PROMPT, "groundtruth": event.kind}
        if task == "affected":
            return columns, {"question": XBD_AFFECTED_PROMPT, "groundtruth": "yes" if affected else "no"}
        if task == "count":
            return columns, {"question": XBD_COUNT_PROMPT, "groundtruth": _count_word(len(affected))}
        if task in ("reg_cls_1", "reg_cls_2"):
            k = int(rng.integers(len(event.buildings)))
            building, level = event.buildings[k], event.damage[k]
            if task == "reg_cls_1":
                return columns, {"question": XBD_REG_CLS_1_PROMPT.format(box=building.text), "groundtruth": level}
            answer = "no" if level == "no-damage" else "yes"
            return columns, {"question": XBD_REG_CLS_2_PROMPT.format(box=building.text), "groundtruth": answer}
        if task == "caption":
            if affected:
                text = (
                    f"There has been a {event.kind} disaster that resulted in {number_words(len(affected))} damaged "
                    f"{'building' if len(affected) == 1 else 'buildings'}."
                )
            else:
                text = f"There has been a {event.kind} disaster, however it did not affect the buildings."
            return columns, {"question": XBD_CAPTION_PROMPT, "groundtruth": text}
        if task == "od":
            sizes = sorted({b.size for b in event.buildings})
            size = sizes[int(rng.integers(len(sizes)))]
            boxes = "".join(b.text for b in event.buildings if b.size == size)
            return columns, {"question": XBD_OD_PROMPT.format(size=size), "groundtruth": boxes}
        # "rod": one damaged building named by its damage class and place (an undamaged one on spared rows).
        pool = affected or event.buildings
        building = pool[int(rng.integers(len(pool)))]
        level = event.damage[event.buildings.index(building)]
        question = XBD_ROD_PROMPT.format(damage=level, location=building.location)
        return columns, {"question": question, "groundtruth": building.text}

    return make


# ---------------------------------------------------------------------------------------------------------------
# The shards

Maker = Callable[[Context, str, int], Row]


@dataclass(frozen=True)
class Shard:
    path: str  # relative to the synthetic output folder
    family: str  # task family (the GRPO stage and reward that train it)
    make: Maker
    split: str | None = None  # a DatasetDict with this one split (the Hub's `AID/test/...`), else a Dataset
    train: bool = False


def _eval(path: str, family: str, make: Maker, split: str | None = None) -> Shard:
    return Shard(f"{EVAL_ROOT}/{path}", family, make, split)


def _train(path: str, family: str, make: Maker) -> Shard:
    return Shard(f"{TRAIN_ROOT}/{path}", family, make, train=True)


XBD = "Change_detection/xBD/test"
EARTHDIAL_SHARDS: dict[str, Shard] = {
    "aid": _eval("Classification/AID", "classification", classification_row("AID"), split="test"),
    "ucm": _eval("Classification/UCM", "classification", classification_row("UCM"), split="test"),
    "whu19": _eval("Classification/WHU_19", "classification", classification_row("WHU_19"), split="test"),
    "bigearthnet": _eval("Classification/BigEarthNet_RGB/BigEarthNet_test", "multilabel", multilabel_row),
    "rsvqa_lr": _eval("VQA/RSVQA_LR", "vqa", vqa_row(low_resolution=True)),
    "rsvqa_hr": _eval("VQA/RSVQA_HRBEN", "vqa", vqa_row(low_resolution=False)),
    "rec_geochat": _eval("Detection/GeoChat_Bench/refer", "referring_detection", referring_row("geochat")),
    "rec_nwpu": _eval("Detection/NWPU_VHR_10/NWPU_VHR_10_test_refer", "referring_detection", referring_row("nwpu")),
    "region_geochat": _eval("Detection/GeoChat_Bench/identify", "region_captioning", region_row("geochat")),
    "region_nwpu": _eval(
        "Detection/NWPU_VHR_10/NWPU_VHR_10_test_region_captioning", "region_captioning", region_row("nwpu")
    ),
    "cap_nwpu": _eval(
        "Image_captioning/NWPU_RESISC45_Captions/NWPU_RESISC45_Captions_test", "image_captioning", image_caption_row
    ),
    "cap_rsicd": _eval("Image_captioning/RSICD_Captions/RSICD_Captions_test", "image_captioning", image_caption_row),
    "cap_rsitmd": _eval("Image_captioning/RSITMD_Captions/RSITMD_Captions_test", "image_captioning", image_caption_row),
    "grounding_nwpu": _eval("Grounding_description/NWPU_VHR_10_grounding_test", "grounding_description", grounding_row),
    "cc_dubai": _eval(
        "Change_detection/DUBAICC/Dubai_ChangeDetection_test", "change_captioning", change_row(2, CHANGE_PROMPT, "five")
    ),
    "cc_levir": _eval(
        "Change_detection/LEVIRCC/LEVIR_ChangeDetection_test", "change_captioning", change_row(2, CHANGE_PROMPT, "five")
    ),
    "cc_muds": _eval(
        "Change_detection/MUDS/MUDS_ChangeDetection_test", "change_captioning", change_row(4, MUDS_PROMPT, "five")
    ),
    "cc_sysu": _eval("Change_detection/SYSU", "change_captioning", change_row(2, SYSU_PROMPT, "sysu")),
    "fmow": _eval("Change_detection/FMoW_RGB_Valid", "temporal_classification", fmow_row),
    "xbd_set1": _eval(f"{XBD}/xBD_testset_1", "temporal_classification", xbd_row("type")),
    "xbd_set2": _eval(f"{XBD}/xBD_testset_2", "temporal_classification", xbd_row("affected")),
    "xbd_set3": _eval(f"{XBD}/xBD_testset_3", "temporal_classification", xbd_row("count")),
    "xbd_reg_cls1": _eval(f"{XBD}/xBD_reg_cls_testset_1", "region_classification", xbd_row("reg_cls_1")),
    "xbd_reg_cls2": _eval(f"{XBD}/xBD_reg_cls_testset_2", "region_classification", xbd_row("reg_cls_2")),
    "xbd_caption": _eval(f"{XBD}/xBD_test_image_captioning", "change_captioning", xbd_row("caption")),
    "xbd_det": _eval(f"{XBD}/xBD_object_detection", "detection", xbd_row("od")),
    "xbd_rod": _eval(f"{XBD}/xBD_referred_object_detection", "referred_detection", xbd_row("rod")),
    # Training shards for the GRPO stages (configs/grpo/geovlm_stages.yaml); one per family. EarthDial's own training
    # shard names are unpublished except Visual_Grounding_Shards/RSVG: the others are ours.
    "train_classification": _train("Classification_Shards/AID", "classification", classification_row("UCM")),
    "train_multilabel": _train("Classification_Shards/BigEarthNet_RGB", "multilabel", multilabel_row),
    "train_vqa": _train("VQA_Shards/RSVQA_LR", "vqa", vqa_row(low_resolution=True)),
    "train_referring_detection": _train(
        "Visual_Grounding_Shards/RSVG", "referring_detection", referring_row("geochat")
    ),
    "train_region_captioning": _train("Region_Captioning_Shards/NWPU_VHR_10", "region_captioning", region_row("nwpu")),
    "train_image_captioning": _train("Image_Captioning_Shards/RSICD", "image_captioning", image_caption_row),
    "train_grounding_description": _train(
        "Grounding_Description_Shards/NWPU_VHR_10", "grounding_description", grounding_row
    ),
    "train_change_captioning": _train(
        "Change_Detection_Shards/LEVIR_CC", "change_captioning", change_row(2, CHANGE_PROMPT, "five")
    ),
    "train_temporal_classification": _train(
        "Disaster_Shards/xBD_disaster_type", "temporal_classification", xbd_row("type")
    ),
    "train_region_classification": _train(
        "Disaster_Shards/xBD_region_classification", "region_classification", xbd_row("reg_cls_1")
    ),
    "train_detection": _train("Disaster_Shards/xBD_object_detection", "detection", xbd_row("od")),
    "train_referred_detection": _train(
        "Disaster_Shards/xBD_referred_object_detection", "referred_detection", xbd_row("rod")
    ),
}


def _features(image_columns: Sequence[str], text_columns: Sequence[str]) -> Any:
    from datasets import Features, Value
    from datasets import Image as ImageFeature

    return Features({**{c: ImageFeature() for c in image_columns}, **{c: Value("string") for c in text_columns}})


def write_shard(ctx: Context, key: str, shard: Shard) -> None:
    from datasets import Dataset, DatasetDict

    n = ctx.spec["earthdial_train" if shard.train else "earthdial"]
    rows = [shard.make(ctx, f"earthdial/{key}", i) for i in range(n)]
    image_columns, text_columns = list(rows[0][0]), list(rows[0][1])
    data: dict[str, list[Any]] = {c: [images[c] for images, _ in rows] for c in image_columns}
    data.update({c: [texts[c] for _, texts in rows] for c in text_columns})
    dataset = Dataset.from_dict(data, features=_features(image_columns, text_columns))
    out = ctx.root / shard.path
    if shard.split:
        DatasetDict({shard.split: dataset}).save_to_disk(str(out))
    else:
        dataset.save_to_disk(str(out))


def write_earthdial(ctx: Context) -> None:
    for key, shard in EARTHDIAL_SHARDS.items():
        write_shard(ctx, key, shard)
