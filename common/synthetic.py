"""Procedural remote-sensing scenes and every dataset format of the three papers, for offline tests and the demo.

Scenes: `sample_scene` draws a scene description (terrain, objects with pixel boxes), `draw_scene` renders it with
numpy + PIL, `render_scene` does both. Every label, caption, answer, box and count is derived from the description,
never written by hand, so the data is consistent by construction.

Positives (SAMData categories 0 "easy" and 1 "hard") are missile sites: a ring of bright concrete launcher revetments
around a central control site, joined to it by access roads. The ring is the cue a ~200k-parameter model can learn
from ~112 px inputs; hard positives have fewer, smaller, camouflaged revetments, one possibly under tree cover.
Negatives (category 2) are civilian layouts: farmland (crop fields in stripes), residential blocks, or a lake among
fields. Positive captions always name a SAMCHAT_KEYWORDS word; negative captions and chain-of-thought replies never
contain one, not even negated (the SAMChat reward and metric test substrings, SPEC 5).

Frames: boxes are `[x1, y1, x2, y2]` corners in pixels of the image as written (x right, y down, north up), except
the TinyRS `{VG}` SFT answers, which use the 0-1000 grid `[[x1,y1,x2,y2]]` (SPEC 6.2). ScoreRS grounding, vhm_grpo
answer type "2" and GeoVLM boxes are all in pixels of the image file they belong to.

Layout written by `generate(out_dir, seed=, size=)` (file names are fixed: tests, docs and the demo use them):

    samdata/train/     train_NNNN.jpg, sam_300_inst.json, sam_300_reasoning_inst.json   (LLaVA JSON, SPEC 2.1)
    samdata/test/      0_NNN.png (positive easy), 1_NNN.png (positive hard), 2_NNN.png (negative)   (SPEC 2.5)
    samdata/grpo/      grpo_NNNN.jpg + metadata.jsonl {file_name, question, solution "1"/"0"}   (SPEC 2.2)
    vhm/               vhm_NNNN.jpg and awkward-mode images (16-bit PNG/TIFF, RGBA, palette) +
                       list_pretrain_corrected.json, list_sft_oversampled.json, list_sft_reasoning_oversampled.json
    vhm_grpo/          DatasetDict.save_to_disk, split train: prompt, image, solution   (SPEC 2.3)
    scorers/           the 12 ScoreRS files of SPEC 2.6, images in scorers/<json stem>/ (one LHRS-Bench record
                       uses `image_path` = "LHRS-Bench_extra", relative to scorers/)
    geovlm/            classification.jsonl, multilabel.jsonl, referring_detection.jsonl, detection.jsonl,
                       captioning.jsonl, vqa.jsonl, counting.jsonl (SPEC 2.4; `task` = the file stem), images in
                       geovlm/images/; records with boxes carry "size": [w, h]
    earthdial/         EarthDial-format arrow shards of every EarthDial-Bench family under
                       Eardial_downstream_task_datasets/ and GRPO training shards under training_set/
                       (common.synthetic_earthdial: EARTHDIAL_SHARDS lists them; 0-100 rotated boxes)

GeoVLM answers: classification a class name; multilabel comma-separated sorted labels; referring_detection one
`[x1, y1, x2, y2]`; detection `[x1, y1, x2, y2], [x1, y1, x2, y2], ...`; captioning a 4-6 sentence caption; vqa
"yes"/"no"/"rural"/"urban"; counting an integer.

CLI: `python -m common.synthetic --out DIR [--seed N] [--size small|demo]`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

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

logger = logging.getLogger(__name__)

KINDS = ("positive_easy", "positive_hard", "negative")
NEGATIVE_LAYOUTS = ("farmland", "residential", "lakeside")

# Scene classes of every classification task, in a fixed order; "missile site" is the class SAMChat must flag.
SCENE_CLASSES = ("missile site", "farmland", "residential area", "lake")
_LAYOUT_CLASS = {
    "missile_site": "missile site",
    "farmland": "farmland",
    "residential": "residential area",
    "lakeside": "lake",
}

TERRAINS = {"desert": (196, 170, 128), "scrubland": (150, 138, 96), "grassland": (112, 128, 78)}
FIELD_COLOURS = {"green": (86, 132, 60), "yellow": (198, 180, 92), "brown": (128, 96, 62)}
ROOF_COLOURS = {"red": (168, 64, 50), "brown": (110, 74, 52), "grey": (96, 96, 100)}
CONCRETE = (232, 228, 214)
LAUNCH_PAD = (92, 86, 76)
CONTROL_PAD = (176, 170, 156)
CONTROL_BUILDING = (70, 70, 76)
ACCESS_ROAD = (186, 180, 166)
ASPHALT = (108, 108, 106)
WATER = (48, 80, 118)
SHORE = (170, 160, 124)
TREE = (44, 78, 40)
REVETMENT_SHAPES = ("U-shaped", "circular")
GSD_METRES = (0.5, 1.0, 2.0)

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
# Categories the question generators ask about (roads include access roads; see `_count`).
QUESTION_CATEGORIES = ("revetment", "control site", "road", "house", "crop field", "lake", "tree")
# Categories with several instances per scene: counting, comparison and multi-box detection use them.
COUNTABLE = ("revetment", "house", "crop field", "tree")

SIZES = {
    # name -> image side (px) and record counts per output
    "small": {
        "image": 112,
        "train_pos": 2,
        "train_neg": 4,
        "test": (2, 2, 2),
        "grpo_pos": 2,
        "grpo_neg": 4,
        "vhm": 6,
        "vhm_grpo": 6,
        "scorers": 3,
        "geovlm": 3,
        "earthdial": 3,
        "earthdial_train": 4,
    },
    "demo": {
        "image": 224,
        "train_pos": 100,
        "train_neg": 200,
        "test": (12, 38, 40),
        "grpo_pos": 60,
        "grpo_neg": 100,
        "vhm": 60,
        "vhm_grpo": 60,
        "scorers": 16,
        "geovlm": 24,
        # Few EarthDial rows: the demo does not train on them, and 39 shards of 1-4 images each cost ~20 s here.
        "earthdial": 6,
        "earthdial_train": 12,
    },
}

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


def _words(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


# ---------------------------------------------------------------------------------------------------------------
# Scene descriptions


def _clip_box(x1: float, y1: float, x2: float, y2: float, size: int) -> list[int]:
    def clip(v: float) -> int:
        return int(min(max(round(v), 0), size - 1))

    return [clip(x1), clip(y1), clip(x2), clip(y2)]


def _overlaps(box: Sequence[float], others: Sequence[Sequence[float]], margin: float = 1) -> bool:
    return any(
        box[0] < o[2] + margin and o[0] < box[2] + margin and box[1] < o[3] + margin and o[1] < box[3] + margin
        for o in others
    )


def _place_boxes(
    rng: np.random.Generator,
    n: int,
    side: tuple[float, float],
    area: Sequence[float],
    avoid: list[list[int]],
    size: int,
    tries: int = 60,
) -> list[list[int]]:
    """Up to n non-overlapping square-ish boxes inside `area` (x1, y1, x2, y2) that avoid `avoid`."""
    placed: list[list[int]] = []
    for _ in range(n * tries):
        if len(placed) == n:
            break
        w, h = rng.uniform(*side), rng.uniform(*side)
        if area[2] - area[0] <= w or area[3] - area[1] <= h:
            break
        x, y = rng.uniform(area[0], area[2] - w), rng.uniform(area[1], area[3] - h)
        box = _clip_box(x, y, x + w, y + h, size)
        if not _overlaps(box, avoid + placed, margin=2):
            placed.append(box)
    return placed


def _road(line: Sequence[float], width: int, size: int, category: str = "road") -> dict:
    x1, y1, x2, y2 = line
    half = width / 2
    return {
        "category": category,
        "line": [round(v, 1) for v in line],
        "width": width,
        "box": _clip_box(min(x1, x2) - half, min(y1, y2) - half, max(x1, x2) + half, max(y1, y2) + half, size),
    }


def _trees(rng: np.random.Generator, n: int, avoid: list[list[int]], size: int) -> list[dict]:
    side = (size * 0.03, size * 0.05)
    return [{"category": "tree", "box": b} for b in _place_boxes(rng, n, side, (0, 0, size, size), avoid, size)]


def _missile_site(rng: np.random.Generator, size: int, hard: bool) -> dict:
    cx = size / 2 + rng.uniform(-0.06, 0.06) * size
    cy = size / 2 + rng.uniform(-0.06, 0.06) * size
    n = int(rng.integers(3, 6) if hard else rng.integers(4, 9))
    ring = size * (rng.uniform(0.22, 0.28) if hard else rng.uniform(0.28, 0.33))
    radius = size * (0.045 if hard else 0.065)
    shape = _pick(rng, REVETMENT_SHAPES)
    offset = rng.uniform(0, 2 * math.pi)
    objects: list[dict] = []
    half = size * (0.045 if hard else 0.055)
    objects.append({"category": "control site", "box": _clip_box(cx - half, cy - half, cx + half, cy + half, size)})
    width = max(1, round(size / 80))
    occluded = int(rng.integers(n)) if hard and rng.random() < 0.6 else -1
    for k in range(n):
        angle = offset + 2 * math.pi * k / n + rng.uniform(-0.12, 0.12)
        x, y = cx + ring * math.cos(angle), cy + ring * math.sin(angle)
        objects.append(_road((cx, cy, x, y), width, size, "access road"))
        objects.append(
            {
                "category": "revetment",
                "box": _clip_box(x - radius, y - radius, x + radius, y + radius, size),
                "shape": shape,
                "facing": round(math.degrees(math.atan2(cy - y, cx - x)), 1),
                "occluded": k == occluded,
            }
        )
    site = _clip_box(cx - ring - radius, cy - ring - radius, cx + ring + radius, cy + ring + radius, size)
    trees = _trees(rng, int(rng.integers(0, 4)), [site], size)
    if occluded >= 0:
        target = [o for o in objects if o.get("occluded")][0]["box"]
        tx, ty = (target[0] + target[2]) / 2, (target[1] + target[3]) / 2
        for _ in range(3):
            r = radius * rng.uniform(0.5, 0.8)
            x, y = tx + rng.uniform(-radius, radius) * 0.7, ty + rng.uniform(-radius, radius) * 0.7
            trees.append({"category": "tree", "box": _clip_box(x - r, y - r, x + r, y + r, size)})
    return {"layout": "missile_site", "objects": objects + trees, "revetment_shape": shape, "camouflaged": hard}


def _field_stripes(rng: np.random.Generator, area: Sequence[float], orientation: str, size: int) -> list[dict]:
    n = int(rng.integers(3, 7))
    horizontal = orientation == "east-west"
    lo, hi = (area[1], area[3]) if horizontal else (area[0], area[2])
    cuts = np.sort(rng.uniform(lo, hi, n - 1))
    edges = [lo, *cuts.tolist(), hi]
    fields = []
    for a, b in zip(edges[:-1], edges[1:]):
        if b - a < size * 0.06:
            continue
        box = (area[0], a + 1, area[2], b - 1) if horizontal else (a + 1, area[1], b - 1, area[3])
        fields.append(
            {
                "category": "crop field",
                "box": _clip_box(*box, size),
                "colour": _pick(rng, list(FIELD_COLOURS)),
                "orientation": orientation,
            }
        )
    return fields


def _farmland(rng: np.random.Generator, size: int) -> dict:
    orientation = _pick(rng, ("east-west", "north-south"))
    objects = _field_stripes(rng, (0, 0, size, size), orientation, size)
    width = max(2, round(size / 40))
    pos = rng.uniform(0.25, 0.75) * size
    # The road runs across the stripes, as farm tracks do.
    line = (pos, 0, pos, size - 1) if orientation == "east-west" else (0, pos, size - 1, pos)
    road = _road(line, width, size)
    corridor = road["box"]
    band = size * 0.08
    near = [corridor[0] - band, corridor[1] - band, corridor[2] + band, corridor[3] + band]
    houses = _place_boxes(rng, int(rng.integers(1, 5)), (size * 0.04, size * 0.065), near, [corridor], size)
    colour = _pick(rng, list(ROOF_COLOURS))
    objects += [road] + [{"category": "house", "box": b, "colour": colour} for b in houses]
    objects += _trees(rng, int(rng.integers(0, 4)), [corridor] + houses, size)
    return {"layout": "farmland", "objects": objects}


def _residential(rng: np.random.Generator, size: int) -> dict:
    width = max(2, round(size / 40))
    rows = np.sort(rng.uniform(0.2, 0.8, int(rng.integers(1, 3))) * size)
    cols = np.sort(rng.uniform(0.2, 0.8, int(rng.integers(1, 3))) * size)
    roads = [_road((0, y, size - 1, y), width, size) for y in rows] + [
        _road((x, 0, x, size - 1), width, size) for x in cols
    ]
    corridors = [r["box"] for r in roads]
    houses = _place_boxes(
        rng, int(rng.integers(8, 15)), (size * 0.05, size * 0.08), (2, 2, size - 2, size - 2), corridors, size
    )
    colours = [_pick(rng, list(ROOF_COLOURS)) for _ in houses]
    objects = roads + [{"category": "house", "box": b, "colour": c} for b, c in zip(houses, colours)]
    objects += _trees(rng, int(rng.integers(2, 6)), corridors + houses, size)
    return {"layout": "residential", "objects": objects}


def _lakeside(rng: np.random.Generator, size: int) -> dict:
    w, h = rng.uniform(0.3, 0.45) * size, rng.uniform(0.25, 0.4) * size
    left, top = rng.random() < 0.5, rng.random() < 0.5
    x = rng.uniform(0.04, 0.1) * size if left else size - w - rng.uniform(0.04, 0.1) * size
    y = rng.uniform(0.04, 0.1) * size if top else size - h - rng.uniform(0.04, 0.1) * size
    lake = {"category": "lake", "box": _clip_box(x, y, x + w, y + h, size)}
    # Fields fill the half of the image away from the lake; a road separates the halves.
    split = size * 0.5
    area = (0, split + 2, size, size) if top else (0, 0, size, split - 2)
    objects = [lake] + _field_stripes(rng, area, "north-south", size)
    width = max(2, round(size / 40))
    road = _road((0, split, size - 1, split), width, size)
    objects.append(road)
    band = size * 0.1
    near = (0, split - band, size, split + band)
    houses = _place_boxes(
        rng, int(rng.integers(1, 4)), (size * 0.04, size * 0.065), near, [road["box"], lake["box"]], size
    )
    colour = _pick(rng, list(ROOF_COLOURS))
    objects += [{"category": "house", "box": b, "colour": colour} for b in houses]
    objects += _trees(rng, int(rng.integers(1, 4)), [road["box"], lake["box"]] + houses, size)
    return {"layout": "lakeside", "objects": objects}


def sample_scene(kind: str, rng: np.random.Generator, size: int = 224) -> dict:
    """A scene description: kind, label (1 missile site, 0 civilian), layout, scene class, setting (rural/urban),
    terrain, ground sample distance (m/px), objects (each with a category and a pixel box; roads also a line)."""
    if kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {', '.join(KINDS)}")
    terrain = _pick(rng, list(TERRAINS))
    gsd = float(_pick(rng, GSD_METRES))
    if kind == "negative":
        layout = _pick(rng, NEGATIVE_LAYOUTS)
        if layout == "residential":
            terrain = "grassland"
        scene = {"farmland": _farmland, "residential": _residential, "lakeside": _lakeside}[layout](rng, size)
    else:
        scene = _missile_site(rng, size, hard=kind == "positive_hard")
    scene.update(
        kind=kind,
        label=int(kind != "negative"),
        size=[size, size],
        terrain=terrain,
        gsd=gsd,
        scene_class=_LAYOUT_CLASS[scene["layout"]],
        setting="urban" if scene["layout"] == "residential" else "rural",
    )
    return scene


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def _terrain(rng: np.random.Generator, base: tuple[int, int, int], size: int) -> np.ndarray:
    coarse = rng.normal(0, 1, (6, 6)).astype(np.float32)
    low = np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.Resampling.BICUBIC))
    image = np.asarray(base, np.float32)[None, None, :] + 14 * low[..., None]
    return image + rng.normal(0, 5, (size, size, 1)).astype(np.float32)


def _blend(colour: Sequence[int], other: Sequence[int], weight: float) -> tuple[int, int, int]:
    return tuple(int(round(weight * a + (1 - weight) * b)) for a, b in zip(colour, other))


def draw_scene(scene: dict, rng: np.random.Generator) -> Image.Image:
    """Render a description; `rng` only adds texture noise, so geometry and labels come from `scene` alone."""
    size = scene["size"][0]
    ground = TERRAINS[scene["terrain"]]
    base = _terrain(rng, ground, size)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    concrete = _blend(CONCRETE, ground, 0.55) if scene.get("camouflaged") else CONCRETE
    order = ("crop field", "lake", "road", "access road", "control site", "revetment", "house", "tree")
    for category in order:
        for obj in (o for o in scene["objects"] if o["category"] == category):
            x1, y1, x2, y2 = obj["box"]
            if category == "crop field":
                colour = FIELD_COLOURS[obj["colour"]]
                draw.rectangle((x1, y1, x2, y2), fill=colour)
                furrow = _blend(colour, (0, 0, 0), 0.82)
                step = max(3, size // 40)
                if obj["orientation"] == "east-west":
                    for y in range(y1 + 1, y2, step):
                        draw.line((x1, y, x2, y), fill=furrow)
                else:
                    for x in range(x1 + 1, x2, step):
                        draw.line((x, y1, x, y2), fill=furrow)
            elif category == "lake":
                draw.ellipse((x1, y1, x2, y2), fill=WATER, outline=SHORE, width=max(1, size // 90))
            elif category in ("road", "access road"):
                colour = (
                    ASPHALT
                    if category == "road"
                    else (_blend(ACCESS_ROAD, ground, 0.6) if scene.get("camouflaged") else ACCESS_ROAD)
                )
                draw.line(tuple(obj["line"]), fill=colour, width=obj["width"])
            elif category == "control site":
                draw.rectangle((x1, y1, x2, y2), fill=CONTROL_PAD)
                w, h = x2 - x1, y2 - y1
                draw.rectangle((x1 + w * 0.25, y1 + h * 0.25, x2 - w * 0.3, y2 - h * 0.35), fill=CONTROL_BUILDING)
            elif category == "revetment":
                wall = max(2, (x2 - x1) // 4)
                draw.ellipse((x1 + wall, y1 + wall, x2 - wall, y2 - wall), fill=LAUNCH_PAD)
                if obj["shape"] == "circular":
                    draw.ellipse((x1, y1, x2, y2), outline=concrete, width=wall)
                else:
                    # PIL angles run clockwise from east; the U opens towards the control site.
                    facing = obj["facing"]
                    draw.arc((x1, y1, x2, y2), facing + 50, facing + 310, fill=concrete, width=wall)
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                draw.rectangle((cx - 1, cy - 1, cx + 1, cy + 1), fill=concrete)
            elif category == "house":
                roof = ROOF_COLOURS[obj["colour"]]
                draw.rectangle((x1, y1, x2, y2), fill=roof, outline=_blend(roof, (0, 0, 0), 0.7))
                if x2 - x1 >= y2 - y1:
                    draw.line((x1 + 1, (y1 + y2) / 2, x2 - 1, (y1 + y2) / 2), fill=_blend(roof, (255, 255, 255), 0.8))
                else:
                    draw.line(((x1 + x2) / 2, y1 + 1, (x1 + x2) / 2, y2 - 1), fill=_blend(roof, (255, 255, 255), 0.8))
            else:
                draw.ellipse((x1, y1, x2, y2), fill=TREE)
    pixels = np.asarray(image, np.float32) + rng.normal(0, 3, (size, size, 3)).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def render_scene(kind: str, rng: np.random.Generator, size: int = 224) -> tuple[Image.Image, dict]:
    """Sample and draw one scene of `kind` ("positive_easy", "positive_hard", "negative")."""
    scene = sample_scene(kind, rng, size)
    return draw_scene(scene, rng), scene


# ---------------------------------------------------------------------------------------------------------------
# Facts about a scene (pure functions of the description)


def _objects(scene: dict, category: str) -> list[dict]:
    if category == "road":
        return [o for o in scene["objects"] if o["category"] in ("road", "access road")]
    return [o for o in scene["objects"] if o["category"] == category]


def _count(scene: dict, category: str) -> int:
    return len(_objects(scene, category))


def _centre(box: Sequence[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _region(box: Sequence[float], size: int) -> str:
    """Where a box lies: "centre", or a compass part such as "north-west"."""
    x, y = _centre(box)
    third = size / 3
    row = "north" if y < third else ("south" if y > 2 * third else "")
    col = "west" if x < third else ("east" if x > 2 * third else "")
    return "-".join(p for p in (row, col) if p) or "centre"


def _image_part(region: str) -> str:
    return "centre of the image" if region == "centre" else f"{region} part of the image"


def _listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def referring_targets(scene: dict) -> list[tuple[str, list[int]]]:
    """(expression, box) pairs that pick out exactly one object of the scene."""
    targets = []
    size = scene["size"][0]
    for category in ("control site", "lake"):
        objs = _objects(scene, category)
        if len(objs) == 1:
            targets.append((f"the {category}", objs[0]["box"]))
    for category in ("house", "crop field"):
        objs = sorted(_objects(scene, category), key=lambda o: _area(o["box"]), reverse=True)
        if len(objs) == 1:
            targets.append((f"the {category}", objs[0]["box"]))
        elif len(objs) > 1 and _area(objs[0]["box"]) > 1.05 * _area(objs[1]["box"]):
            targets.append((f"the largest {category}", objs[0]["box"]))
    revetments = _objects(scene, "revetment")
    for name, key in (
        ("northernmost", lambda o: _centre(o["box"])[1]),
        ("westernmost", lambda o: _centre(o["box"])[0]),
    ):
        ranked = sorted(revetments, key=key)
        if len(ranked) > 1 and key(ranked[1]) - key(ranked[0]) > size * 0.03:
            targets.append((f"the {name} revetment", ranked[0]["box"]))
    return targets


# ---------------------------------------------------------------------------------------------------------------
# Captions and chain-of-thought replies


def caption(scene: dict, rng: np.random.Generator) -> str:
    """A 4-6 sentence caption (the SAMData prompt asks for 4-6 sentences); positives name a SAMChat keyword."""
    terrain, size = scene["terrain"], scene["size"][0]
    if scene["label"]:
        n = _count(scene, "revetment")
        shape = scene["revetment_shape"]
        control = _objects(scene, "control site")[0]["box"]
        sentences = [
            _pick(
                rng,
                (
                    f"This aerial image shows a military missile site on open {terrain}.",
                    f"The image is an overhead view of a surface-to-air missile battery in {terrain} terrain.",
                    f"This satellite image shows a military installation with missile launch positions on {terrain}.",
                ),
            ),
            f"{_cap(_words(n))} launcher revetments, {shape} concrete emplacements, are arranged in a ring around a "
            "central control site.",
            _pick(
                rng,
                (
                    "Access roads radiate from the control site to each revetment.",
                    "Each revetment is linked to the centre by its own access road.",
                ),
            ),
            f"The control site lies in the {_image_part(_region(control, size))}.",
        ]
        if scene["camouflaged"]:
            hidden = any(o.get("occluded") for o in _objects(scene, "revetment"))
            sentences.append(
                "The revetments are camouflaged and blend with the surrounding ground"
                + (", and tree cover partly hides one of them." if hidden else ".")
            )
        sentences.append(
            _pick(
                rng,
                (
                    "The ring of hardened launch positions is typical of a missile site.",
                    "Such a layout indicates a military launch site rather than a civilian facility.",
                ),
            )
        )
        return " ".join(sentences)
    layout = scene["layout"]
    houses, fields, trees = _objects(scene, "house"), _objects(scene, "crop field"), _count(scene, "tree")
    roof_colours = sorted({h["colour"] for h in houses})
    sentences = []
    if layout == "farmland":
        orientation = fields[0]["orientation"] if fields else "east-west"
        colours = sorted({f["colour"] for f in fields})
        sentences += [
            _pick(
                rng,
                (
                    f"This aerial image shows a rural farming area on {terrain}.",
                    "The image is an overhead view of agricultural land.",
                ),
            ),
            f"{_cap(_words(len(fields)))} crop fields in {_listing(colours)} stripes run {orientation} across the "
            "scene.",
            "A paved road crosses the fields.",
        ]
        if houses:
            sentences.append(
                f"{_cap(_words(len(houses)))} small {'house' if len(houses) == 1 else 'houses'} with "
                f"{_listing(roof_colours)} {'roof stands' if len(houses) == 1 else 'roofs stand'} beside the road."
            )
        closing = "The scene is an ordinary civilian agricultural landscape."
    elif layout == "residential":
        sentences += [
            _pick(
                rng,
                (
                    "This aerial image shows an urban residential neighbourhood.",
                    "The image is an overhead view of a built-up residential area.",
                ),
            ),
            f"{_cap(_words(len(houses)))} houses with {_listing(roof_colours)} roofs are arranged in blocks.",
            f"{_cap(_words(_count(scene, 'road')))} paved roads form a street grid.",
        ]
        closing = "The dense housing indicates a civilian residential district."
    else:
        lake = _objects(scene, "lake")[0]["box"]
        percent = round(100 * math.pi / 4 * _area(lake) / size**2)
        sentences += [
            _pick(
                rng,
                (
                    "This aerial image shows a lake in a rural landscape.",
                    "The image is an overhead view of a lake beside farmland.",
                ),
            ),
            f"The lake lies in the {_image_part(_region(lake, size))} and covers about {percent} percent of the scene.",
            f"{_cap(_words(len(fields)))} crop fields lie on the other side of a paved road.",
        ]
        if houses:
            sentences.append(
                f"{_cap(_words(len(houses)))} small {'house' if len(houses) == 1 else 'houses'} stand near the road."
            )
        closing = "The area is a quiet civilian countryside."
    if trees and len(sentences) < 5:
        sentences.append(f"{_cap(_words(trees))} {'tree grows' if trees == 1 else 'trees grow'} in the area.")
    sentences.append(closing)
    return " ".join(sentences)


def summary(scene: dict) -> str:
    """One-sentence answer of a chain-of-thought reply."""
    if scene["label"]:
        n = _count(scene, "revetment")
        return (
            f"This is a military missile site: {_words(n)} launcher revetments in a ring around a control site, "
            "linked by access roads."
        )
    return {
        "farmland": "This is civilian farmland with crop fields, a road and a few houses.",
        "residential": "This is a civilian residential area with houses along a street grid.",
        "lakeside": "This is a civilian rural landscape with a lake, crop fields and a road.",
    }[scene["layout"]]


def reasoning(scene: dict) -> str:
    """The chain of thought that leads from what is visible to the scene's class."""
    terrain = scene["terrain"]
    if scene["label"]:
        n = _count(scene, "revetment")
        steps = [
            f"The image shows {terrain} terrain seen from above.",
            f"I can see {_words(n)} bright {scene['revetment_shape']} concrete structures.",
            "They lie at about the same distance from a central compound, so they form a ring.",
            "Roads connect each structure to the centre.",
        ]
        if scene["camouflaged"]:
            steps.append("The structures are faint because they are camouflaged, but the ring is still visible.")
        steps.append("Hardened emplacements in a ring around a control site are the signature of a missile site.")
        return " ".join(steps)
    houses, fields = _count(scene, "house"), _count(scene, "crop field")
    steps = [f"The image shows {terrain} seen from above."]
    if fields:
        steps.append(f"I count {_words(fields)} crop fields in parallel stripes.")
    if _count(scene, "lake"):
        steps.append("A lake takes up part of the scene.")
    steps.append(
        f"There {'is' if houses == 1 else 'are'} {_words(houses)} {'house' if houses == 1 else 'houses'} "
        f"and {_words(_count(scene, 'road'))} paved {'road' if _count(scene, 'road') == 1 else 'roads'}."
    )
    steps.append(
        "Nothing is arranged in a ring around a central compound, and every structure is an ordinary building."
    )
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
    category = _pick(rng, QUESTION_CATEGORIES)
    question = _pick(rng, (f"Is there a {category} in the image?", f"Is a {category} present?"))
    return QA(question, "yes" if _count(scene, category) else "no", "presence", subject=(category,))


def comparison_qa(scene: dict, rng: np.random.Generator) -> QA:
    a, b = rng.choice(len(COUNTABLE), 2, replace=False)
    first, second = COUNTABLE[int(a)], COUNTABLE[int(b)]
    na, nb = _count(scene, first), _count(scene, second)
    if rng.random() < 0.5:
        question, answer = f"Are there more {PLURAL[first]} than {PLURAL[second]}?", na > nb
    else:
        question, answer = f"Is the number of {PLURAL[first]} equal to the number of {PLURAL[second]}?", na == nb
    return QA(question, "yes" if answer else "no", "comparison", subject=(first, second))


def rural_urban_qa(scene: dict) -> QA:
    return QA("Is this a rural or an urban area?", scene["setting"], "rural_urban")


def count_qa(scene: dict, rng: np.random.Generator) -> QA:
    present = [c for c in COUNTABLE if _count(scene, c)] or list(COUNTABLE)
    category = _pick(rng, present)
    return QA(
        f"How many {PLURAL[category]} are there in the image?",
        str(_count(scene, category)),
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
    labels = [c for c in QUESTION_CATEGORIES if _count(scene, c)]
    question = (
        "Which of the following objects appear in the image: "
        f"{', '.join(QUESTION_CATEGORIES)}? Answer with a comma-separated list."
    )
    return QA(question, ", ".join(sorted(labels)), "multilabel", subject=tuple(labels))


def detection_qa(scene: dict, rng: np.random.Generator) -> QA:
    present = [c for c in COUNTABLE if _count(scene, c)]
    category = _pick(rng, present)
    boxes = [o["box"] for o in _objects(scene, category)]
    question = f"Detect every {category} in the image. Output one [x1, y1, x2, y2] box per {category}."
    return QA(question, ", ".join(format_box(b) for b in boxes), "detection", subject=(category,))


def format_box(box: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(v)) for v in box) + "]"


def grid_box(box: Sequence[int], size: Sequence[int]) -> str:
    """TinyRS `{VG}` answer: `[[x1,y1,x2,y2]]` on the 0-1000 grid (SPEC 6.2)."""
    w, h = size
    values = (box[0] / w, box[1] / h, box[2] / w, box[3] / h)
    return "[[" + ",".join(str(round(v * 1000)) for v in values) + "]]"


# LHRS-Bench categories (SPEC 2.6), "1".."11".
LHRS_CATEGORIES = (
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


def _mcq(rng: np.random.Generator, question: str, correct: str, wrong: Sequence[str], types: Sequence[str]) -> QA:
    options = [correct, *[w for w in dict.fromkeys(wrong) if w != correct][:3]]
    order = rng.permutation(len(options))
    shuffled = [options[int(i)] for i in order]
    letters = "ABCD"[: len(shuffled)]
    lines = [question] + [f"{letter}. {option}" for letter, option in zip(letters, shuffled)]
    lines.append("Answer with the option's letter from the given choices directly.")
    return QA("\n".join(lines), letters[shuffled.index(correct)], "mcq", types=tuple(types))


def mcq_qa(scene: dict, rng: np.random.Generator) -> QA:
    """An LHRS-Bench style multiple-choice question; `types` holds its category numbers."""
    size = scene["size"][0]
    makers: list[Callable[[], QA]] = [
        lambda: _mcq(rng, "What kind of scene does the image show?", scene["scene_class"], SCENE_CLASSES, ["1"]),
        lambda: _mcq(
            rng,
            "What ground sample distance does the image most likely have?",
            f"{scene['gsd']:g} m",
            [f"{g:g} m" for g in (*GSD_METRES, 4.0)],
            ["8"],
        ),
        lambda: _mcq(
            rng,
            "Which sensor most likely took this image?",
            "optical RGB camera",
            ["synthetic aperture radar", "thermal infrared camera", "lidar"],
            ["9"],
        ),
        lambda: _mcq(
            rng,
            "Is the site in the image civilian or military?",
            "military" if scene["label"] else "civilian",
            ["civilian", "military"],
            ["11"],
        ),
    ]
    countable = [c for c in COUNTABLE if _count(scene, c)]
    if countable:
        category = _pick(rng, countable)
        n = _count(scene, category)
        makers.append(
            lambda: _mcq(
                rng,
                f"How many {PLURAL[category]} are visible?",
                str(n),
                [str(n + 1), str(n + 2), str(max(0, n - 1)), str(n + 3)],
                ["5"],
            )
        )
    if scene["label"]:
        makers.append(
            lambda: _mcq(
                rng,
                "What shape are the revetments?",
                scene["revetment_shape"],
                [*REVETMENT_SHAPES, "rectangular", "triangular"],
                ["4"],
            )
        )
        makers.append(
            lambda: _mcq(
                rng,
                "How are the access roads laid out?",
                "radiating from the centre",
                ["parallel east-west", "parallel north-south", "in a square grid"],
                ["3"],
            )
        )
        makers.append(
            lambda: _mcq(
                rng, "What colour are the revetment walls?", "light grey", ["dark green", "red", "blue"], ["2"]
            )
        )
    else:
        houses, fields = _objects(scene, "house"), _objects(scene, "crop field")
        if houses:
            colour = houses[0]["colour"] if len({h["colour"] for h in houses}) == 1 else None
            if colour:
                makers.append(
                    lambda: _mcq(rng, "What colour are the house roofs?", colour, [*ROOF_COLOURS, "blue"], ["2"])
                )
            makers.append(
                lambda: _mcq(
                    rng,
                    "What shape are the houses seen from above?",
                    "rectangular",
                    ["circular", "triangular", "U-shaped"],
                    ["4"],
                )
            )
        if fields:
            makers.append(
                lambda: _mcq(
                    rng,
                    "In which direction do the crop field stripes run?",
                    fields[0]["orientation"],
                    ["east-west", "north-south", "diagonal"],
                    ["3"],
                )
            )
    largest = max((o for o in scene["objects"] if "line" not in o), key=lambda o: _area(o["box"]))
    makers.append(
        lambda: _mcq(
            rng,
            "Which single object covers the largest area?",
            largest["category"],
            ["crop field", "lake", "house", "control site", "revetment", "tree"],
            ["6"],
        )
    )
    targets = referring_targets(scene)
    if targets:
        expression, box = targets[0]
        region = _region(box, size)
        makers.append(
            lambda: _mcq(
                rng,
                f"Where is {expression} located?",
                _image_part(region),
                [
                    _image_part(r)
                    for r in ("centre", "north-west", "north-east", "south-west", "south-east", "north", "south")
                ],
                ["10"],
            )
        )
    if len(targets) > 1:
        (name_a, box_a), (name_b, box_b) = targets[0], targets[1]
        centre = (size / 2, size / 2)
        da, db = math.dist(_centre(box_a), centre), math.dist(_centre(box_b), centre)
        if abs(da - db) > size * 0.03:
            closer = name_a if da < db else name_b
            makers.append(
                lambda: _mcq(
                    rng,
                    f"Which is closer to the centre of the image, {name_a} or {name_b}?",
                    closer,
                    [name_a, name_b],
                    ["7", "10"],
                )
            )
    return makers[int(rng.integers(len(makers)))]()


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
        n = _count(scene, category)
        name = category if n == 1 else PLURAL[category]
        steps.append(f"Looking for {PLURAL[category]}, I find {_words(n)} {name}.")
    if qa.kind == "grounding" and qa.box is not None:
        # No coordinates here: the answer's frame (pixels or the 0-1000 grid) depends on the dataset.
        steps.append(f"{_cap(qa.question)} lies in the {_image_part(_region(qa.box, size))}.")
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
        *LHRS_CATEGORIES,
    ]
    for i in range(_CORPUS_SCENES):
        scene = sample_scene(KINDS[i % len(KINDS)], rng, size=224)
        texts += [caption(scene, rng), cot_reply(scene)]
        for qa in scene_qas(scene, rng):
            texts += [qa.question, qa.answer, qa_reply(scene, qa)]
            if qa.box is not None:
                texts.append(grid_box(qa.box, scene["size"]))
    return texts


# ---------------------------------------------------------------------------------------------------------------
# Writing the datasets


@dataclass(frozen=True)
class _Context:
    root: Path
    seed: int
    spec: dict

    @property
    def image_size(self) -> int:
        return self.spec["image"]

    def rng(self, section: str, index: int) -> np.random.Generator:
        # One stream per (seed, section, index): a section's content does not depend on any other section's.
        return np.random.default_rng([self.seed, zlib.crc32(section.encode()), index])

    def scene(
        self,
        section: str,
        index: int,
        kind: str,
        accept: Callable[[dict], bool] = lambda s: True,
    ) -> tuple[Image.Image, dict, np.random.Generator]:
        rng = self.rng(section, index)
        for _ in range(50):
            scene = sample_scene(kind, rng, self.image_size)
            if accept(scene):
                return draw_scene(scene, rng), scene, rng
        raise RuntimeError(f"{section}[{index}]: no {kind} scene met the requirement in 50 draws")


def _labelled_kinds(positives: int, negatives: int, rng: np.random.Generator) -> list[str]:
    """Positives two-thirds easy, one-third hard, shuffled among the negatives."""
    kinds = ["positive_hard" if k % 3 == 2 else "positive_easy" for k in range(positives)] + ["negative"] * negatives
    return [kinds[int(i)] for i in rng.permutation(len(kinds))]


def _save_image(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        image.save(path, format="JPEG", quality=90)
    else:
        image.save(path)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def _turns(*pairs: str) -> list[dict]:
    return [{"from": "human" if i % 2 == 0 else "gpt", "value": value} for i, value in enumerate(pairs)]


def _write_samdata(ctx: _Context) -> None:
    folder = ctx.root / "samdata"
    spec = ctx.spec
    kinds = _labelled_kinds(spec["train_pos"], spec["train_neg"], ctx.rng("samdata/train/order", 0))
    inst, reasoning_inst = [], []
    for i, kind in enumerate(kinds):
        image, scene, rng = ctx.scene("samdata/train", i, kind)
        name = f"train_{i:04d}.jpg"
        _save_image(image, folder / "train" / name)
        prompt = "<image>\n" + SAMDATA_PROMPT
        inst.append({"id": f"sam_{i:04d}", "image": name, "conversations": _turns(prompt, caption(scene, rng))})
        reasoning_inst.append({"id": f"sam_{i:04d}", "image": name, "conversations": _turns(prompt, cot_reply(scene))})
    _write_json(folder / "train" / "sam_300_inst.json", inst)
    _write_json(folder / "train" / "sam_300_reasoning_inst.json", reasoning_inst)

    # File names carry the ground truth (SPEC 2.5): 0 positive easy, 1 positive hard, 2 negative.
    for category, (kind, count) in enumerate(zip(KINDS, spec["test"])):
        for i in range(count):
            image, _, _ = ctx.scene(f"samdata/test/{category}", i, kind)
            _save_image(image, folder / "test" / f"{category}_{i:03d}.png")

    kinds = _labelled_kinds(spec["grpo_pos"], spec["grpo_neg"], ctx.rng("samdata/grpo/order", 0))
    rows = []
    for i, kind in enumerate(kinds):
        image, scene, _ = ctx.scene("samdata/grpo", i, kind)
        name = f"grpo_{i:04d}.jpg"
        _save_image(image, folder / "grpo" / name)
        # The upstream GRPO question text is not published; the SAMData prompt is our stand-in. The trainer appends
        # SAMCHAT_GRPO_SUFFIX itself (SPEC 4), so the question stays bare here.
        rows.append({"file_name": name, "question": SAMDATA_PROMPT, "solution": str(scene["label"])})
    _write_jsonl(folder / "grpo" / "metadata.jsonl", rows)


def _gray16(image: Image.Image) -> Image.Image:
    # 12-bit sensor range stored in 16 bits, as many multispectral products are.
    values = np.asarray(image.convert("L"), np.uint16) * 16
    return Image.fromarray(values)  # uint16 -> mode "I;16"


def _rgba(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    alpha = np.full(image.size[::-1], 255, np.uint8)
    alpha[:, : image.size[0] // 8] = 0  # a no-data strip, as at a swath edge
    rgba.putalpha(Image.fromarray(alpha, "L"))
    return rgba


# Image modes that real remote-sensing archives contain, written for the first VHM images so that every loader's
# conversion to RGB is exercised: (file suffix, converter).
AWKWARD_MODES: tuple[tuple[str, Callable[[Image.Image], Image.Image]], ...] = (
    ("gray16.png", _gray16),
    ("gray16.tif", _gray16),
    ("rgba.png", _rgba),
    ("palette.png", lambda image: image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)),
)

PRETRAIN_PROMPTS = (
    "Describe this image.",
    "Write a detailed description of this remote sensing image.",
    "What does this aerial image show?",
)


def _counts_sentence(scene: dict) -> str:
    parts = [
        f"{_words(_count(scene, c))} {c if _count(scene, c) == 1 else PLURAL[c]}"
        for c in QUESTION_CATEGORIES
        if _count(scene, c)
    ]
    return _listing(parts)


def _write_vhm(ctx: _Context) -> None:
    folder = ctx.root / "vhm"
    n = ctx.spec["vhm"]
    pretrain, sft, sft_reasoning = [], [], []
    scenes = []
    for i in range(n):
        image, scene, rng = ctx.scene("vhm", i, KINDS[i % len(KINDS)])
        if i < len(AWKWARD_MODES):
            suffix, convert = AWKWARD_MODES[i]
            name = f"vhm_{i:04d}_{suffix}"
            _save_image(convert(image), folder / name)
        else:
            name = f"vhm_{i:04d}.jpg"
            _save_image(image, folder / name)
        scenes.append((name, scene))
        pretrain.append(
            {
                "id": f"pretrain_{i:04d}",
                "image": name,
                "conversations": _turns("<image>\n" + _pick(rng, PRETRAIN_PROMPTS), caption(scene, rng)),
            }
        )
        # Task prefixes and the trailing space follow the ScoreRS TinyRS prompt style (SPEC 6.2), so that SFT and
        # evaluation prompts agree.
        cls = classification_qa(scene)
        vqa = _pick(rng, (presence_qa, comparison_qa, count_qa))(scene, rng)
        single = [
            (cls, TINYRS_CLS_PREFIX + cls.question, cls.answer),
            (vqa, TINYRS_VQA_PREFIX + vqa.question + " ", vqa.answer),
        ]
        grounding = grounding_qa(scene, rng)
        if grounding is not None:
            # Grounding is oversampled twice (the upstream file name says "oversampled"; ratios are unpublished).
            text = TINYRS_VG_PREFIX + grounding.question + " "
            single += [(grounding, text, grid_box(grounding.box, scene["size"]))] * 2
        for j, (qa, question, answer) in enumerate(single):
            record_id = f"sft_{i:04d}_{qa.kind}_{j}"
            sft.append({"id": record_id, "image": name, "conversations": _turns("<image>\n" + question, answer)})
            reply = qa_reply(scene, replace(qa, answer=answer))
            sft_reasoning.append(
                {"id": record_id, "image": name, "conversations": _turns("<image>\n" + question, reply)}
            )
        if i % 2 == 1:
            sft.append(
                {
                    "id": f"sft_{i:04d}_multiturn",
                    "image": name,
                    "conversations": _turns(
                        "<image>\n" + _pick(rng, PRETRAIN_PROMPTS),
                        caption(scene, rng),
                        TINYRS_VQA_PREFIX + rural_urban_qa(scene).question + " ",
                        scene["setting"],
                        TINYRS_VQA_PREFIX + f"How many {PLURAL['house']} are there in the image? ",
                        str(_count(scene, "house")),
                    ),
                }
            )
    for i in range(0, n - 1, 2):
        (name_a, scene_a), (name_b, scene_b) = scenes[i], scenes[i + 1]
        same = scene_a["scene_class"] == scene_b["scene_class"]
        answer = (
            f"{'Yes' if same else 'No'}. The first image shows {scene_a['scene_class']} and the second shows "
            f"{scene_b['scene_class']}."
        )
        sft.append(
            {
                "id": f"sft_pair_{i:04d}",
                "image": [name_a, name_b],
                "conversations": _turns("<image>\n<image>\nDo the two images show the same kind of scene?", answer),
            }
        )
    for i, (_, scene) in enumerate(scenes):
        # Text-only: the scene class from an inventory of its objects, no image.
        question = (
            f"An aerial image contains {_counts_sentence(scene)}. Which scene class fits it best: "
            f"{', '.join(SCENE_CLASSES)}?"
        )
        sft.append({"id": f"sft_text_{i:04d}", "conversations": _turns(question, scene["scene_class"])})
        if i == 0:
            sft_reasoning.append(
                {
                    "id": f"sft_text_{i:04d}",
                    "conversations": _turns(
                        question, f"<reasoning>{reasoning(scene)}</reasoning><answer>{scene['scene_class']}</answer>"
                    ),
                }
            )
    _write_json(folder / "list_pretrain_corrected.json", pretrain)
    _write_json(folder / "list_sft_oversampled.json", sft)
    _write_json(folder / "list_sft_reasoning_oversampled.json", sft_reasoning)


def _jpeg_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


OPEN_QUESTIONS = ("Describe this image in detail.", "What can be seen in this scene? Explain briefly.")


def _write_vhm_grpo(ctx: _Context) -> None:
    from datasets import Dataset, DatasetDict, Features, List, Value
    from datasets import Image as ImageFeature

    prompts, images, solutions = [], [], []
    for i in range(ctx.spec["vhm_grpo"]):
        answer_type = "012"[i % 3]
        kind = KINDS[(i // 3) % len(KINDS)]
        accept = (lambda s: bool(referring_targets(s))) if answer_type == "2" else (lambda s: True)
        image, scene, rng = ctx.scene("vhm_grpo", i, kind, accept)
        if answer_type == "0":
            question, answer = _pick(rng, OPEN_QUESTIONS), caption(scene, rng)
        elif answer_type == "1":
            short = (classification_qa(scene), rural_urban_qa(scene), presence_qa(scene, rng), count_qa(scene, rng))
            qa = _pick(rng, short)
            question, answer = qa.question, qa.answer
        else:
            # Type "2" boxes are corners in pixels of the stored image, the frame the reward compares in (SPEC 5).
            qa = grounding_qa(scene, rng)
            question = f"Output the bounding box of {qa.question} as [x1, y1, x2, y2] in pixel coordinates."
            answer = qa.answer
        prompts.append(
            [
                {"role": "system", "content": [{"type": "text", "text": REASONING_SYSTEM}]},
                {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": question}]},
            ]
        )
        images.append(image)
        solutions.append([answer_type, answer, question, _jpeg_base64(image)])
    part = {"type": Value("string"), "text": Value("string")}
    features = Features(
        {
            "prompt": List({"role": Value("string"), "content": List(part)}),
            "image": ImageFeature(),
            "solution": List(Value("string")),
        }
    )
    dataset = Dataset.from_dict({"prompt": prompts, "image": images, "solution": solutions}, features=features)
    DatasetDict({"train": dataset}).save_to_disk(str(ctx.root / "vhm_grpo"))


# Each ScoreRS classification benchmark spells the scene classes its own way (same order as SCENE_CLASSES).
SCORERS_CLASS_NAMES = {
    "cls_AID.json": ("Military", "Farmland", "DenseResidential", "Pond"),
    "cls_METER_ML.json": ("missile_site", "farmland", "residential", "lake"),
    "cls_NWPU_RESISC45.json": ("military_site", "rectangular_farmland", "dense_residential", "lake"),
    "cls_SIRI_WHU.json": ("military", "agriculture", "residential", "water"),
    "cls_WHU_RS19.json": ("MilitarySite", "Farmland", "Residential", "Pond"),
}
SCORERS_FILES = (
    "cls_AID.json",
    "cls_METER_ML.json",
    "cls_NWPU_RESISC45.json",
    "cls_SIRI_WHU.json",
    "cls_WHU_RS19.json",
    "RSVQA_HR-comp_RSVQA.json",
    "RSVQA_HR-presence_RSVQA.json",
    "RSVQA_LR-comp_RSVQA.json",
    "RSVQA_LR-presence_RSVQA.json",
    "RSVQA_LR-rural_urban_RSVQA.json",
    "VG_DOIR_RSVG_test.json",
    "LHRS-Bench.json",
)
# One LHRS-Bench record lives here (relative to the scorers root) to exercise the `image_path` branch.
SCORERS_EXTRA_FOLDER = "LHRS-Bench_extra"


def _write_scorers(ctx: _Context) -> None:
    folder = ctx.root / "scorers"
    for file_name in SCORERS_FILES:
        stem = file_name.removesuffix(".json")
        records = []
        for i in range(ctx.spec["scorers"]):
            kind = KINDS[i % len(KINDS)]
            grounding = stem.startswith("VG_")
            accept = (lambda s: bool(referring_targets(s))) if grounding else (lambda s: True)
            image, scene, rng = ctx.scene(f"scorers/{stem}", i, kind, accept)
            record: dict[str, Any] = {}
            if file_name in SCORERS_CLASS_NAMES:
                qa = classification_qa(scene, SCORERS_CLASS_NAMES[file_name])
            elif "comp" in stem:
                qa = comparison_qa(scene, rng)
            elif "presence" in stem:
                qa = presence_qa(scene, rng)
            elif "rural_urban" in stem:
                qa = rural_urban_qa(scene)
            elif grounding:
                qa = grounding_qa(scene, rng)
                record["size"] = scene["size"]
            else:
                qa = mcq_qa(scene, rng)
                record["type"] = list(qa.types)
            if "_LR-" in stem:
                # RSVQA-LR comes from Sentinel-2 (10 m): the low-resolution sets get coarser pixels.
                image = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
            name = f"{i:05d}.jpg"
            image_folder = stem
            if stem == "LHRS-Bench" and i == 0:
                image_folder = record["image_path"] = SCORERS_EXTRA_FOLDER
            _save_image(image, folder / image_folder / name)
            records.append(
                {"image": name, "conversations": [{"value": "<image>\n" + qa.question}, {"value": qa.answer}], **record}
            )
        _write_json(folder / file_name, records)


GEOVLM_TASKS = ("classification", "multilabel", "referring_detection", "detection", "captioning", "vqa", "counting")


def _write_geovlm(ctx: _Context) -> None:
    folder = ctx.root / "geovlm"
    for task in GEOVLM_TASKS:
        rows = []
        for i in range(ctx.spec["geovlm"]):
            kind = KINDS[i % len(KINDS)]
            accept = (lambda s: bool(referring_targets(s))) if task == "referring_detection" else (lambda s: True)
            image, scene, rng = ctx.scene(f"geovlm/{task}", i, kind, accept)
            extra: dict[str, Any] = {}
            if task == "classification":
                qa = classification_qa(scene)
            elif task == "multilabel":
                qa = multilabel_qa(scene)
            elif task == "referring_detection":
                qa = grounding_qa(scene, rng)
                qa = QA(
                    f"Output the bounding box of {qa.question} as [x1, y1, x2, y2] in pixel coordinates.",
                    qa.answer,
                    qa.kind,
                    qa.box,
                )
            elif task == "detection":
                qa = detection_qa(scene, rng)
            elif task == "captioning":
                qa = QA(_pick(rng, OPEN_QUESTIONS), caption(scene, rng), "caption")
            elif task == "vqa":
                qa = _pick(rng, (presence_qa, comparison_qa))(scene, rng) if i % 3 else rural_urban_qa(scene)
            else:
                qa = count_qa(scene, rng)
            if task in ("referring_detection", "detection"):
                extra["size"] = scene["size"]
            name = f"{task}_{i:04d}.jpg"
            _save_image(image, folder / "images" / name)
            rows.append(
                {
                    "id": f"{task}-{i:04d}",
                    "image": name,
                    "conversations": _turns("<image>" + qa.question, qa.answer),
                    "task": task,
                    **extra,
                }
            )
        _write_jsonl(folder / f"{task}.jsonl", rows)


def _write_earthdial(ctx: _Context) -> None:
    # Deferred: common.synthetic_earthdial builds on this module's scenes.
    from common.synthetic_earthdial import write_earthdial

    write_earthdial(ctx)


SECTIONS: tuple[tuple[str, Callable[[_Context], None]], ...] = (
    ("samdata", _write_samdata),
    ("vhm", _write_vhm),
    ("vhm_grpo", _write_vhm_grpo),
    ("scorers", _write_scorers),
    ("geovlm", _write_geovlm),
    ("earthdial", _write_earthdial),
)


def generate(out_dir: str | Path, *, seed: int = 0, size: str = "small") -> Path:
    """Write every synthetic dataset under `out_dir` (layout in the module docstring) and return its path.
    Deterministic: the same seed and size give byte-identical JSON files and identical pixels."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    ctx = _Context(root, seed, SIZES[size])
    for name, write in SECTIONS:
        logger.info("writing %s (%s, seed %d)", root / name, size, seed)
        write(ctx)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=list(SIZES), default="demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(generate(args.out, seed=args.seed, size=args.size))  # noqa: T201 - CLI output: the data folder
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
