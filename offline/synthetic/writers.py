"""The per-format writers: each dataset section of `generate` (layout in the offline.synthetic docstring) as its
upstream format, every record built from offline.synthetic.scenes and offline.synthetic.text."""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common.data import SCORERS_TASKS
from common.prompts import REASONING_SYSTEM, SAMDATA_PROMPT, TINYRS_CLS_PREFIX, TINYRS_VG_PREFIX, TINYRS_VQA_PREFIX
from offline.synthetic.earthdial import write_earthdial
from offline.synthetic.scenes import KINDS, SCENE_CLASSES, Context, count_of, pick
from offline.synthetic.text import (
    PLURAL,
    QA,
    caption,
    classification_qa,
    comparison_qa,
    cot_reply,
    count_qa,
    counts_sentence,
    detection_qa,
    grid_box,
    grounding_qa,
    mcq_qa,
    multilabel_qa,
    presence_qa,
    qa_reply,
    reasoning,
    referring_targets,
    rural_urban_qa,
)

logger = logging.getLogger(__name__)

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
        "train_pos": 300,
        "train_neg": 300,
        "test": (12, 38, 40),
        # Balanced: at 60 / 100 answering "no" earned more keyword reward than "yes", and GRPO lost recall.
        "grpo_pos": 80,
        "grpo_neg": 80,
        "vhm": 60,
        "vhm_grpo": 60,
        "scorers": 16,
        "geovlm": 24,
        # Few EarthDial rows: the demo does not train on them, and 39 shards of 1-4 images each cost ~20 s here.
        "earthdial": 6,
        "earthdial_train": 12,
    },
}


def _labelled_kinds(positives: int, negatives: int, rng: np.random.Generator) -> list[str]:
    """Positives half easy, half hard, shuffled among the negatives. (Two-thirds easy left the tiny model few
    camouflaged sites to learn from, and the SAMData test is mostly hard ones: SFT recall 0.76 at seed 1.)"""
    kinds = ["positive_hard" if k % 2 == 1 else "positive_easy" for k in range(positives)] + ["negative"] * negatives
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


def _write_samdata(ctx: Context) -> None:
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


def _save_vhm_image(image: Image.Image, folder: Path, index: int) -> str:
    """The first images in the AWKWARD_MODES, the others as JPEG; returns the file name."""
    if index < len(AWKWARD_MODES):
        suffix, convert = AWKWARD_MODES[index]
        name = f"vhm_{index:04d}_{suffix}"
        _save_image(convert(image), folder / name)
    else:
        name = f"vhm_{index:04d}.jpg"
        _save_image(image, folder / name)
    return name


def _vhm_single_turns(scene: dict, rng: np.random.Generator) -> list[tuple[QA, str, str]]:
    """(qa, question, answer) of a scene's single-turn SFT records: classification, one VQA, grounding twice.
    Task prefixes and the trailing space follow the ScoreRS TinyRS prompt style (SPEC 6.2), so that SFT and
    evaluation prompts agree."""
    cls = classification_qa(scene)
    vqa = pick(rng, (presence_qa, comparison_qa, count_qa))(scene, rng)
    single = [
        (cls, TINYRS_CLS_PREFIX + cls.question, cls.answer),
        (vqa, TINYRS_VQA_PREFIX + vqa.question + " ", vqa.answer),
    ]
    grounding = grounding_qa(scene, rng)
    if grounding is not None:
        # Grounding is oversampled twice (the upstream file name says "oversampled"; ratios are unpublished).
        text = TINYRS_VG_PREFIX + grounding.question + " "
        single += [(grounding, text, grid_box(grounding.box, scene["size"]))] * 2
    return single


def _vhm_multiturn(scene: dict, rng: np.random.Generator) -> list[dict]:
    """Three turns on one image: a description, then two short TinyRS VQA questions."""
    return _turns(
        "<image>\n" + pick(rng, PRETRAIN_PROMPTS),
        caption(scene, rng),
        TINYRS_VQA_PREFIX + rural_urban_qa(scene).question + " ",
        scene["setting"],
        TINYRS_VQA_PREFIX + f"How many {PLURAL['house']} are there in the image? ",
        str(count_of(scene, "house")),
    )


def _vhm_pair(index: int, first: tuple[str, dict], second: tuple[str, dict]) -> dict:
    """A two-image record: do both images show the same kind of scene?"""
    (name_a, scene_a), (name_b, scene_b) = first, second
    same = scene_a["scene_class"] == scene_b["scene_class"]
    answer = (
        f"{'Yes' if same else 'No'}. The first image shows {scene_a['scene_class']} and the second shows "
        f"{scene_b['scene_class']}."
    )
    question = "<image>\n<image>\nDo the two images show the same kind of scene?"
    return {"id": f"sft_pair_{index:04d}", "image": [name_a, name_b], "conversations": _turns(question, answer)}


def _vhm_text_question(scene: dict) -> str:
    """Text-only: the scene class from an inventory of its objects, no image."""
    return (
        f"An aerial image contains {counts_sentence(scene)}. Which scene class fits it best: "
        f"{', '.join(SCENE_CLASSES)}?"
    )


def _write_vhm(ctx: Context) -> None:
    folder = ctx.root / "vhm"
    n = ctx.spec["vhm"]
    pretrain, sft, sft_reasoning = [], [], []
    scenes = []
    for i in range(n):
        image, scene, rng = ctx.scene("vhm", i, KINDS[i % len(KINDS)])
        name = _save_vhm_image(image, folder, i)
        scenes.append((name, scene))
        prompt = "<image>\n" + pick(rng, PRETRAIN_PROMPTS)
        pretrain.append(
            {"id": f"pretrain_{i:04d}", "image": name, "conversations": _turns(prompt, caption(scene, rng))}
        )
        for j, (qa, question, answer) in enumerate(_vhm_single_turns(scene, rng)):
            record_id = f"sft_{i:04d}_{qa.kind}_{j}"
            sft.append({"id": record_id, "image": name, "conversations": _turns("<image>\n" + question, answer)})
            reply = qa_reply(scene, replace(qa, answer=answer))
            sft_reasoning.append(
                {"id": record_id, "image": name, "conversations": _turns("<image>\n" + question, reply)}
            )
        if i % 2 == 1:
            sft.append({"id": f"sft_{i:04d}_multiturn", "image": name, "conversations": _vhm_multiturn(scene, rng)})
    sft += [_vhm_pair(i, scenes[i], scenes[i + 1]) for i in range(0, n - 1, 2)]
    for i, (_, scene) in enumerate(scenes):
        sft.append(
            {"id": f"sft_text_{i:04d}", "conversations": _turns(_vhm_text_question(scene), scene["scene_class"])}
        )
    if scenes:
        scene = scenes[0][1]
        reply = f"<reasoning>{reasoning(scene)}</reasoning><answer>{scene['scene_class']}</answer>"
        sft_reasoning.append({"id": "sft_text_0000", "conversations": _turns(_vhm_text_question(scene), reply)})
    _write_json(folder / "list_pretrain_corrected.json", pretrain)
    _write_json(folder / "list_sft_oversampled.json", sft)
    _write_json(folder / "list_sft_reasoning_oversampled.json", sft_reasoning)


def _jpeg_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


OPEN_QUESTIONS = ("Describe this image in detail.", "What can be seen in this scene? Explain briefly.")


def _write_vhm_grpo(ctx: Context) -> None:
    from datasets import Dataset, DatasetDict, Features, List, Value
    from datasets import Image as ImageFeature

    prompts, images, solutions = [], [], []
    for i in range(ctx.spec["vhm_grpo"]):
        answer_type = "012"[i % 3]
        kind = KINDS[(i // 3) % len(KINDS)]
        accept = (lambda s: bool(referring_targets(s))) if answer_type == "2" else (lambda s: True)
        image, scene, rng = ctx.scene("vhm_grpo", i, kind, accept)
        if answer_type == "0":
            question, answer = pick(rng, OPEN_QUESTIONS), caption(scene, rng)
        elif answer_type == "1":
            short = (classification_qa(scene), rural_urban_qa(scene), presence_qa(scene, rng), count_qa(scene, rng))
            qa = pick(rng, short)
            question, answer = qa.question, qa.answer
        else:
            # Type "2" boxes are corners in pixels of the stored image, the frame the reward compares in (SPEC 5).
            qa = grounding_qa(scene, rng)
            question = pixel_box_question(qa.question)
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
# Every ScoreRS file of SPEC 2.6 is written: the file names of common.data.SCORERS_TASKS, in its order.
SCORERS_FILES = tuple(file_name for file_name, _ in SCORERS_TASKS.values())
# One LHRS-Bench record lives here (relative to the scorers root) to exercise the `image_path` branch.
SCORERS_EXTRA_FOLDER = "LHRS-Bench_extra"


def _write_scorers(ctx: Context) -> None:
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


def pixel_box_question(expression: str) -> str:
    """A referring question whose answer is one `[x1, y1, x2, y2]` in pixels of the stored image."""
    return f"Output the bounding box of {expression} as [x1, y1, x2, y2] in pixel coordinates."


# The GeoVLM tasks written here, each with its question maker (scene, rng, record index) -> QA: the
# common.data.GEOVLM_TASKS that have a generator (not yes_no, multiple_choice).
GEOVLM_QUESTIONS: dict[str, Callable[[dict, np.random.Generator, int], QA]] = {
    "classification": lambda scene, rng, i: classification_qa(scene),
    "multilabel": lambda scene, rng, i: multilabel_qa(scene),
    "referring_detection": lambda scene, rng, i: _pixel_box_qa(scene, rng),
    "detection": lambda scene, rng, i: detection_qa(scene, rng),
    "captioning": lambda scene, rng, i: QA(pick(rng, OPEN_QUESTIONS), caption(scene, rng), "caption"),
    "vqa": lambda scene, rng, i: (
        pick(rng, (presence_qa, comparison_qa))(scene, rng) if i % 3 else rural_urban_qa(scene)
    ),
    "counting": lambda scene, rng, i: count_qa(scene, rng),
}
GENERATED_GEOVLM_TASKS = tuple(GEOVLM_QUESTIONS)
# Tasks whose answers are pixel boxes: their records carry the image "size": [w, h].
GEOVLM_BOX_TASKS = ("referring_detection", "detection")


def _pixel_box_qa(scene: dict, rng: np.random.Generator) -> QA:
    qa = grounding_qa(scene, rng)
    return replace(qa, question=pixel_box_question(qa.question))


def _write_geovlm(ctx: Context) -> None:
    folder = ctx.root / "geovlm"
    for task, make in GEOVLM_QUESTIONS.items():
        rows = []
        for i in range(ctx.spec["geovlm"]):
            accept = (lambda s: bool(referring_targets(s))) if task == "referring_detection" else (lambda s: True)
            image, scene, rng = ctx.scene(f"geovlm/{task}", i, KINDS[i % len(KINDS)], accept)
            qa = make(scene, rng, i)
            extra = {"size": scene["size"]} if task in GEOVLM_BOX_TASKS else {}
            name = f"{task}_{i:04d}.jpg"
            _save_image(image, folder / "images" / name)
            conversations = _turns("<image>" + qa.question, qa.answer)
            rows.append({"id": f"{task}-{i:04d}", "image": name, "conversations": conversations, "task": task, **extra})
        _write_jsonl(folder / f"{task}.jsonl", rows)


SECTIONS: tuple[tuple[str, Callable[[Context], None]], ...] = (
    ("samdata", _write_samdata),
    ("vhm", _write_vhm),
    ("vhm_grpo", _write_vhm_grpo),
    ("scorers", _write_scorers),
    ("geovlm", _write_geovlm),
    ("earthdial", write_earthdial),
)


def generate(out_dir: str | Path, *, seed: int = 0, size: str = "small", sections: Sequence[str] | None = None) -> Path:
    """Write every synthetic dataset under `out_dir` (layout in the module docstring), or only the named `sections`
    (names of SECTIONS), and return its path. Deterministic: the same seed and size give byte-identical JSON files
    and identical pixels, and each section draws from its own streams (Context.rng), so writing the sections in
    separate calls (the demo writes samdata first, the rest beside SFT) gives the same files as one call."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    names = [name for name, _ in SECTIONS]
    unknown = sorted(set(sections or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(unknown)}; expected some of {', '.join(names)}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    ctx = Context(root, seed, SIZES[size])
    for name, write in SECTIONS:
        if sections is None or name in sections:
            logger.info("writing %s (%s, seed %d)", root / name, size, seed)
            write(ctx)
    return root


def main(argv: list[str] | None = None) -> int:
    """`python -m offline.synthetic --out DIR [--seed N] [--size small|demo] [--sections samdata,vhm,...]`."""
    parser = argparse.ArgumentParser(
        prog="python -m offline.synthetic",
        description="Procedural remote-sensing scenes and every dataset format of the three papers, for offline "
        "tests and the demo.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=list(SIZES), default="demo")
    parser.add_argument(
        "--sections",
        help=f"comma-separated subset of {','.join(name for name, _ in SECTIONS)} (default: all); sections are "
        "independent, so writing them in several calls gives the same files as one",
    )
    args = parser.parse_args(argv)
    sections = None if args.sections is None else [name.strip() for name in args.sections.split(",") if name.strip()]
    if sections == []:
        parser.error("--sections names no section")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        root = generate(args.out, seed=args.seed, size=args.size, sections=sections)
    except ValueError as error:
        parser.error(str(error))
    print(root)  # noqa: T201 - CLI output: the data folder
    return 0
