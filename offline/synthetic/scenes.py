"""Procedural aerial scenes: `sample_scene` draws a description (terrain, objects with pixel boxes), `draw_scene`
renders it with numpy + PIL, `render_scene` does both; the facts every label is derived from (`objects_of`,
`count_of`, `box_region`, ...); `Context`, the seeded stream of scenes each dataset section draws from.

Positives (SAMData categories 0 "easy" and 1 "hard") are missile sites: a ring of bright concrete launcher revetments
around a central control site, joined to it by access roads. The ring is the cue a ~200k-parameter model can learn
from ~112 px inputs; hard positives have fewer, smaller, camouflaged revetments, one possibly under tree cover.
Negatives (category 2) are civilian layouts: farmland (crop fields in stripes), residential blocks, or a lake among
fields.

Frames: boxes are `[x1, y1, x2, y2]` corners in pixels of the image as written (x right, y down, north up).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

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


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One of `options`, uniformly (one draw of `rng`)."""
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


def place_boxes(
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
    return [{"category": "tree", "box": b} for b in place_boxes(rng, n, side, (0, 0, size, size), avoid, size)]


def _missile_site(rng: np.random.Generator, size: int, hard: bool) -> dict:
    cx = size / 2 + rng.uniform(-0.06, 0.06) * size
    cy = size / 2 + rng.uniform(-0.06, 0.06) * size
    n = int(rng.integers(3, 6) if hard else rng.integers(4, 9))
    ring = size * (rng.uniform(0.22, 0.28) if hard else rng.uniform(0.28, 0.33))
    radius = size * (0.045 if hard else 0.065)
    shape = pick(rng, REVETMENT_SHAPES)
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
                "colour": pick(rng, list(FIELD_COLOURS)),
                "orientation": orientation,
            }
        )
    return fields


def _farmland(rng: np.random.Generator, size: int) -> dict:
    orientation = pick(rng, ("east-west", "north-south"))
    objects = _field_stripes(rng, (0, 0, size, size), orientation, size)
    width = max(2, round(size / 40))
    pos = rng.uniform(0.25, 0.75) * size
    # The road runs across the stripes, as farm tracks do.
    line = (pos, 0, pos, size - 1) if orientation == "east-west" else (0, pos, size - 1, pos)
    road = _road(line, width, size)
    corridor = road["box"]
    band = size * 0.08
    near = [corridor[0] - band, corridor[1] - band, corridor[2] + band, corridor[3] + band]
    houses = place_boxes(rng, int(rng.integers(1, 5)), (size * 0.04, size * 0.065), near, [corridor], size)
    colour = pick(rng, list(ROOF_COLOURS))
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
    houses = place_boxes(
        rng, int(rng.integers(8, 15)), (size * 0.05, size * 0.08), (2, 2, size - 2, size - 2), corridors, size
    )
    colours = [pick(rng, list(ROOF_COLOURS)) for _ in houses]
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
    houses = place_boxes(
        rng, int(rng.integers(1, 4)), (size * 0.04, size * 0.065), near, [road["box"], lake["box"]], size
    )
    colour = pick(rng, list(ROOF_COLOURS))
    objects += [{"category": "house", "box": b, "colour": colour} for b in houses]
    objects += _trees(rng, int(rng.integers(1, 4)), [road["box"], lake["box"]] + houses, size)
    return {"layout": "lakeside", "objects": objects}


def sample_scene(kind: str, rng: np.random.Generator, size: int = 224) -> dict:
    """A scene description: kind, label (1 missile site, 0 civilian), layout, scene class, setting (rural/urban),
    terrain, ground sample distance (m/px), objects (each with a category and a pixel box; roads also a line)."""
    if kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {', '.join(KINDS)}")
    terrain = pick(rng, list(TERRAINS))
    gsd = float(pick(rng, GSD_METRES))
    if kind == "negative":
        layout = pick(rng, NEGATIVE_LAYOUTS)
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


def objects_of(scene: dict, category: str) -> list[dict]:
    if category == "road":
        return [o for o in scene["objects"] if o["category"] in ("road", "access road")]
    return [o for o in scene["objects"] if o["category"] == category]


def count_of(scene: dict, category: str) -> int:
    return len(objects_of(scene, category))


def box_centre(box: Sequence[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def box_area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_region(box: Sequence[float], size: int) -> str:
    """Where a box lies: "centre", or a compass part such as "north-west"."""
    x, y = box_centre(box)
    third = size / 3
    row = "north" if y < third else ("south" if y > 2 * third else "")
    col = "west" if x < third else ("east" if x > 2 * third else "")
    return "-".join(p for p in (row, col) if p) or "centre"


# ---------------------------------------------------------------------------------------------------------------
# Scene streams


@dataclass(frozen=True)
class Context:
    """Where and how big a `generate` run writes (`spec`: one of SIZES), and its seeded streams of scenes."""

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
