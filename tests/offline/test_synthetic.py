"""Synthetic data: layout, counts, labels derived from the scene description, loadability, determinism."""

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.prompts import REASONING_SYSTEM, SAMCHAT_KEYWORDS, SAMDATA_PROMPT
from offline import synthetic

BOX = re.compile(r"\[(\d+), (\d+), (\d+), (\d+)\]")
GRID_BOX = re.compile(r"^\[\[(\d+),(\d+),(\d+),(\d+)\]\]$")
COT = re.compile(r"^<reasoning>.+?</reasoning><answer>(.+?)</answer>$", re.DOTALL)


def has_keyword(text: str) -> bool:
    return any(k in text.lower() for k in SAMCHAT_KEYWORDS)


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=\.)\s+", text.strip()) if s]


def load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------------------------------------------------
# Layout and counts ("small")

SMALL_COUNTS = [
    # (relative path, number of records / files expected)
    ("samdata/train/sam_300_inst.json", 6),
    ("samdata/train/sam_300_reasoning_inst.json", 6),
    ("samdata/grpo/metadata.jsonl", 6),
    ("vhm/list_pretrain_corrected.json", 6),
    *[(f"scorers/{name}", 3) for name in synthetic.SCORERS_FILES],
    *[(f"geovlm/{task}.jsonl", 3) for task in synthetic.GENERATED_GEOVLM_TASKS],
]


@pytest.mark.parametrize(("relpath", "count"), SMALL_COUNTS)
def test_small_record_counts(synthetic_dir, relpath, count):
    path = synthetic_dir / relpath
    records = load_jsonl(path) if path.suffix == ".jsonl" else load_json(path)
    assert len(records) == count


def test_exact_file_names(synthetic_dir):
    expected = {
        "samdata/train/sam_300_inst.json",
        "samdata/train/sam_300_reasoning_inst.json",
        "samdata/grpo/metadata.jsonl",
        "vhm/list_pretrain_corrected.json",
        "vhm/list_sft_oversampled.json",
        "vhm/list_sft_reasoning_oversampled.json",
        "vhm_grpo/dataset_dict.json",
        "scorers/cls_AID.json",
        "scorers/cls_METER_ML.json",
        "scorers/cls_NWPU_RESISC45.json",
        "scorers/cls_SIRI_WHU.json",
        "scorers/cls_WHU_RS19.json",
        "scorers/RSVQA_HR-comp_RSVQA.json",
        "scorers/RSVQA_HR-presence_RSVQA.json",
        "scorers/RSVQA_LR-comp_RSVQA.json",
        "scorers/RSVQA_LR-presence_RSVQA.json",
        "scorers/RSVQA_LR-rural_urban_RSVQA.json",
        "scorers/VG_DOIR_RSVG_test.json",
        "scorers/LHRS-Bench.json",
        "geovlm/classification.jsonl",
        "geovlm/multilabel.jsonl",
        "geovlm/referring_detection.jsonl",
        "geovlm/detection.jsonl",
        "geovlm/captioning.jsonl",
        "geovlm/vqa.jsonl",
        "geovlm/counting.jsonl",
    }
    missing = sorted(p for p in expected if not (synthetic_dir / p).is_file())
    assert missing == []


def test_samdata_test_names_and_categories(synthetic_dir):
    names = sorted(p.name for p in (synthetic_dir / "samdata/test").iterdir())
    assert names == ["0_000.png", "0_001.png", "1_000.png", "1_001.png", "2_000.png", "2_001.png"]


def test_samdata_train_labels(synthetic_dir):
    folder = synthetic_dir / "samdata/train"
    inst = load_json(folder / "sam_300_inst.json")
    cot = load_json(folder / "sam_300_reasoning_inst.json")
    assert [r["id"] for r in inst] == [r["id"] for r in cot] == [f"sam_{i:04d}" for i in range(6)]
    positives = 0
    for plain, reasoned in zip(inst, cot):
        assert plain["image"] == reasoned["image"] and (folder / plain["image"]).is_file()
        assert plain["conversations"][0] == {"from": "human", "value": "<image>\n" + SAMDATA_PROMPT}
        text, reply = plain["conversations"][1]["value"], reasoned["conversations"][1]["value"]
        assert 4 <= len(sentences(text)) <= 6, text
        match = COT.match(reply)
        assert match, reply
        # The caption and the CoT answer agree on the label, and negatives mention no keyword anywhere.
        assert has_keyword(text) == has_keyword(match.group(1))
        if not has_keyword(text):
            assert not has_keyword(reply)
        positives += has_keyword(text)
    assert positives == synthetic.SIZES["small"]["train_pos"] == 2


# --------------------------------------------------------------------------------------------------------------
# Scenes and texts derived from them


@pytest.mark.parametrize(
    ("kind", "label", "revetments"),
    [("positive_easy", 1, range(4, 9)), ("positive_hard", 1, range(3, 6)), ("negative", 0, range(0, 1))],
)
def test_render_scene_description(kind, label, revetments):
    rng = np.random.default_rng(3)
    for _ in range(20):
        image, scene = synthetic.render_scene(kind, rng, size=96)
        assert image.size == (96, 96) and image.mode == "RGB"
        assert scene["kind"] == kind and scene["label"] == label
        assert len(synthetic.objects_of(scene, "revetment")) in revetments
        assert (scene["scene_class"] == "missile site") == bool(label)
        for obj in scene["objects"]:
            x1, y1, x2, y2 = obj["box"]
            assert 0 <= x1 <= x2 < 96 and 0 <= y1 <= y2 < 96


def test_render_scene_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown scene kind 'tank'"):
        synthetic.render_scene("tank", np.random.default_rng(0))


def _bright_concrete_fraction(image: Image.Image) -> float:
    pixels = np.asarray(image.resize((112, 112), Image.Resampling.BICUBIC)).astype(int)
    return float(((pixels.min(-1) > 165) & (np.ptp(pixels, axis=-1) < 40)).mean())


def test_easy_positive_cue_survives_downscaling():
    """The cue a tiny model learns: bright grey concrete at 112 px, present in easy positives, absent in negatives."""
    rng = np.random.default_rng(0)
    easy = [_bright_concrete_fraction(synthetic.render_scene("positive_easy", rng)[0]) for _ in range(15)]
    negative = [_bright_concrete_fraction(synthetic.render_scene("negative", rng)[0]) for _ in range(15)]
    assert min(easy) > 0.02
    assert max(negative) < 0.002


def test_hard_positive_revetments_stand_out_from_terrain():
    rng = np.random.default_rng(1)
    for _ in range(15):
        image, scene = synthetic.render_scene("positive_hard", rng, size=224)
        lum = np.asarray(image.convert("L")).astype(float)
        brightest = max(
            lum[y1 : y2 + 1, x1 : x2 + 1].max()
            for x1, y1, x2, y2 in (o["box"] for o in synthetic.objects_of(scene, "revetment"))
        )
        assert brightest > np.median(lum) + 25


@pytest.mark.parametrize("kind", synthetic.KINDS)
def test_captions_and_cot_follow_the_label(kind):
    rng = np.random.default_rng(11)
    for _ in range(30):
        scene = synthetic.sample_scene(kind, rng, size=128)
        text = synthetic.caption(scene, rng)
        reply = synthetic.cot_reply(scene)
        assert 4 <= len(sentences(text)) <= 6, text
        assert has_keyword(text) == (kind != "negative"), text
        assert has_keyword(reply) == (kind != "negative"), reply
        assert COT.match(reply)


def test_answers_derived_from_description():
    scene = {
        "kind": "negative",
        "label": 0,
        "layout": "farmland",
        "scene_class": "farmland",
        "setting": "rural",
        "size": [100, 100],
        "terrain": "grassland",
        "gsd": 1.0,
        "objects": [
            {"category": "crop field", "box": [0, 0, 99, 40], "colour": "green", "orientation": "east-west"},
            {"category": "crop field", "box": [0, 42, 99, 99], "colour": "yellow", "orientation": "east-west"},
            {"category": "road", "box": [48, 0, 52, 99], "line": [50, 0, 50, 99], "width": 4},
            {"category": "house", "box": [55, 10, 60, 15], "colour": "red"},
            {"category": "house", "box": [55, 30, 62, 37], "colour": "red"},
        ],
    }
    assert synthetic.multilabel_qa(scene).answer == "crop field, house, road"
    assert synthetic.rural_urban_qa(scene).answer == "rural"
    assert synthetic.classification_qa(scene).answer == "farmland"
    assert synthetic.classification_qa(scene, ("M", "F", "R", "L")).answer == "F"
    assert synthetic.referring_targets(scene) == [
        ("the largest house", [55, 30, 62, 37]),
        ("the largest crop field", [0, 42, 99, 99]),
    ]
    assert synthetic.grid_box([55, 30, 62, 37], [100, 100]) == "[[550,300,620,370]]"
    rng = np.random.default_rng(0)
    counts = {(qa.question, qa.answer) for qa in (synthetic.count_qa(scene, rng) for _ in range(20))}
    assert counts == {
        ("How many houses are there in the image?", "2"),
        ("How many crop fields are there in the image?", "2"),
    }
    assert synthetic.detection_qa(scene, rng).answer in (
        "[55, 10, 60, 15], [55, 30, 62, 37]",
        "[0, 0, 99, 40], [0, 42, 99, 99]",
    )


def test_tokenizer_corpus_is_deterministic_and_covers_protocol_strings():
    corpus = synthetic.tokenizer_corpus()
    assert corpus == synthetic.tokenizer_corpus()
    joined = "\n".join(corpus)
    for text in (
        SAMDATA_PROMPT,
        REASONING_SYSTEM,
        "{CLS} ",
        "{VQA} ",
        "{VG} ",
        "<reasoning>",
        "</answer>",
        "missile site",
        "residential area",
        "[[",
        "Answer with the option's letter",
    ):
        assert text in joined, text
    assert len(corpus) > 500


# --------------------------------------------------------------------------------------------------------------
# Formats


def test_imagefolder_loads(synthetic_dir, tmp_path):
    from datasets import load_dataset

    dataset = load_dataset("imagefolder", data_dir=str(synthetic_dir / "samdata/grpo"), cache_dir=str(tmp_path))
    train = dataset["train"]
    assert sorted(train.column_names) == ["image", "question", "solution"]
    assert train.num_rows == 6
    assert sorted(train["solution"]) == ["0", "0", "0", "0", "1", "1"]
    assert set(train["question"]) == {SAMDATA_PROMPT}
    assert train[0]["image"].size == (112, 112)


def test_vhm_grpo_loads_with_three_answer_types(synthetic_dir):
    from datasets import load_from_disk

    train = load_from_disk(str(synthetic_dir / "vhm_grpo"))["train"]
    assert train.column_names == ["prompt", "image", "solution"]
    assert [row[0] for row in train["solution"]] == ["0", "1", "2", "0", "1", "2"]
    for row in train:
        answer_type, answer, question, encoded = row["solution"]
        system, user = row["prompt"]
        assert system == {"role": "system", "content": [{"type": "text", "text": REASONING_SYSTEM}]}
        assert user["role"] == "user" and user["content"][0]["type"] == "image"
        assert user["content"][1] == {"type": "text", "text": question}
        decoded = Image.open(io.BytesIO(base64.b64decode(encoded)))
        assert decoded.format == "JPEG" and decoded.size == row["image"].size
        if answer_type == "2":
            x1, y1, x2, y2 = map(int, BOX.fullmatch(answer).groups())
            assert 0 <= x1 < x2 < row["image"].width and 0 <= y1 < y2 < row["image"].height
        elif answer_type == "0":
            assert 4 <= len(sentences(answer)) <= 6


def test_vhm_covers_record_shapes_and_image_modes(synthetic_dir):
    folder = synthetic_dir / "vhm"
    sft = load_json(folder / "list_sft_oversampled.json")
    multi_image = [r for r in sft if isinstance(r.get("image"), list)]
    multi_turn = [r for r in sft if len(r["conversations"]) > 2]
    text_only = [r for r in sft if "image" not in r]
    assert len(multi_image) == 3 and len(multi_turn) == 3 and len(text_only) == 6
    for record in multi_image:
        assert len(record["image"]) == 2 and record["conversations"][0]["value"].count("<image>") == 2
    prefixes = {r["conversations"][0]["value"].split("\n", 1)[1][:5] for r in sft if isinstance(r.get("image"), str)}
    assert {"{CLS}", "{VQA}", "{VG} "} <= prefixes
    for record in sft:
        if "{VG}" in record["conversations"][0]["value"]:
            assert all(0 <= int(v) <= 1000 for v in GRID_BOX.match(record["conversations"][1]["value"]).groups())
    reasoning = load_json(folder / "list_sft_reasoning_oversampled.json")
    assert all(COT.match(r["conversations"][-1]["value"]) for r in reasoning)
    modes = {p.name.split("_", 2)[2]: Image.open(p).mode for p in folder.glob("vhm_000[0-3]_*")}
    assert modes == {"gray16.png": "I;16", "gray16.tif": "I;16", "rgba.png": "RGBA", "palette.png": "P"}


def test_scorers_records(synthetic_dir):
    root = synthetic_dir / "scorers"
    with_image_path = 0
    for name in synthetic.SCORERS_FILES:
        records = load_json(root / name)
        for record in records:
            question, answer = (turn["value"] for turn in record["conversations"])
            assert question.startswith("<image>\n")
            folder = root / record.get("image_path", name.removesuffix(".json"))
            assert (folder / record["image"]).is_file()
            with_image_path += "image_path" in record
            if name.startswith("cls_"):
                assert answer in synthetic.SCORERS_CLASS_NAMES[name] and answer in question
            elif name.startswith("RSVQA"):
                assert answer in ({"rural", "urban"} if "rural" in name else {"yes", "no"})
            elif name.startswith("VG_"):
                w, h = record["size"]
                x1, y1, x2, y2 = map(int, BOX.fullmatch(answer).groups())
                assert 0 <= x1 < x2 < w and 0 <= y1 < y2 < h
            else:
                assert set(record["type"]) <= {str(i) for i in range(1, 12)}
                assert f"\n{answer}. " in question
    assert with_image_path == 1
    lr = Image.open(root / "RSVQA_LR-comp_RSVQA" / "00001.jpg")
    assert lr.size == (56, 56)


def test_geovlm_records(synthetic_dir):
    folder = synthetic_dir / "geovlm"
    for task in synthetic.GENERATED_GEOVLM_TASKS:
        for row in load_jsonl(folder / f"{task}.jsonl"):
            assert row["task"] == task and (folder / "images" / row["image"]).is_file()
            human, gpt = row["conversations"]
            assert human["from"] == "human" and human["value"].startswith("<image>")
            answer = gpt["value"]
            if task in ("referring_detection", "detection"):
                boxes = BOX.findall(answer)
                assert boxes and ", ".join(f"[{', '.join(b)}]" for b in boxes) == answer
                assert row["size"] == [112, 112]
                assert len(boxes) == 1 or task == "detection"
            elif task == "counting":
                assert answer.isdigit()
            elif task == "classification":
                assert answer in synthetic.SCENE_CLASSES
            elif task == "multilabel":
                labels = answer.split(", ")
                assert labels == sorted(labels) and set(labels) <= set(synthetic.QUESTION_CATEGORIES)


def test_common_data_validates_every_dataset(synthetic_dir):
    from common import data

    root = synthetic_dir
    results = [
        data.read_llava(root / "samdata/train/sam_300_inst.json", root / "samdata/train"),
        data.read_llava(root / "samdata/train/sam_300_reasoning_inst.json", root / "samdata/train"),
        data.read_samdata_test(root / "samdata/test"),
        data.read_imagefolder(root / "samdata/grpo"),
        data.read_tinyrs_grpo(root / "vhm_grpo"),
        *[
            data.read_llava(root / "vhm" / name, root / "vhm")
            for name in (
                "list_pretrain_corrected.json",
                "list_sft_oversampled.json",
                "list_sft_reasoning_oversampled.json",
            )
        ],
        *[data.read_scorers(root / "scorers" / name, root / "scorers") for name in synthetic.SCORERS_FILES],
        *[
            data.read_jsonl(root / "geovlm" / f"{task}.jsonl", root / "geovlm/images")
            for task in synthetic.GENERATED_GEOVLM_TASKS
        ],
    ]
    assert [r.problems for r in results] == [[]] * len(results)
    assert all(len(r.records) == r.total > 0 for r in results)
    grpo = data.read_tinyrs_grpo(root / "vhm_grpo")
    assert [r.task for r in grpo.records] == ["open_ended", "short_answer", "bbox"] * 2
    awkward = sorted((root / "vhm").glob("vhm_000[0-3]_*"))
    assert [data.load_image(p).mode for p in awkward] == ["RGB"] * 4


# --------------------------------------------------------------------------------------------------------------
# Determinism and CLI


def _snapshot(root: Path) -> dict[str, bytes]:
    snapshot = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.suffix in (".json", ".jsonl") and not rel.startswith("vhm_grpo"):
            snapshot[rel] = path.read_bytes()
        elif path.suffix in (".jpg", ".png", ".tif"):
            image = Image.open(path)
            snapshot[rel] = image.mode.encode() + np.asarray(image).tobytes()
    return snapshot


def test_same_seed_same_bytes_and_pixels(synthetic_dir, tmp_path):
    again = synthetic.generate(tmp_path / "again", seed=0, size="small")
    first, second = _snapshot(synthetic_dir), _snapshot(again)
    assert len(first) > 100
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_other_seed_other_data(synthetic_dir, tmp_path):
    other = synthetic.generate(tmp_path / "other", seed=1, size="small")
    name = "samdata/train/sam_300_inst.json"
    assert (other / name).read_bytes() != (synthetic_dir / name).read_bytes()


def test_sections_written_apart_match_one_call(synthetic_dir, tmp_path):
    # The demo writes SAMData first and the rest beside SFT: two calls must give the files of one.
    apart = tmp_path / "apart"
    synthetic.generate(apart, seed=0, size="small", sections=["samdata"])
    assert sorted(p.name for p in apart.iterdir()) == ["samdata"]
    assert (
        synthetic.main(["--out", str(apart), "--size", "small", "--sections", "vhm,vhm_grpo,scorers,geovlm,earthdial"])
        == 0
    )
    first, second = _snapshot(synthetic_dir), _snapshot(apart)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_unknown_section_is_rejected(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown section"):
        synthetic.generate(tmp_path, sections=["samdata", "nope"])
    with pytest.raises(SystemExit):
        synthetic.main(["--out", str(tmp_path), "--sections", "sam"])
    assert "unknown section(s) sam; expected some of samdata, vhm" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synthetic.main(["--out", str(tmp_path), "--sections", " , "])
    assert "--sections names no section" in capsys.readouterr().err


def test_unknown_size_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        synthetic.generate(tmp_path, size="huge")


def test_cli_writes_small(tmp_path, capsys):
    assert synthetic.main(["--out", str(tmp_path / "d"), "--size", "small", "--seed", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "d")
    assert len(load_jsonl(tmp_path / "d/samdata/grpo/metadata.jsonl")) == 6


@pytest.mark.slow
def test_demo_size_counts(tmp_path):
    root = synthetic.generate(tmp_path, seed=0, size="demo")
    inst = load_json(root / "samdata/train/sam_300_inst.json")
    # Balanced since issue 21: 300 missile sites and 300 civilian scenes (the file keeps its upstream name).
    assert len(inst) == 600
    assert sum(has_keyword(r["conversations"][1]["value"]) for r in inst) == 300
    test_names = [p.name[0] for p in (root / "samdata/test").iterdir()]
    assert [test_names.count(c) for c in "012"] == [12, 38, 40]
    solutions = [row["solution"] for row in load_jsonl(root / "samdata/grpo/metadata.jsonl")]
    # Balanced too: a GRPO set of 60 / 100 rewarded "no" more often than "yes" and GRPO lost recall.
    assert (solutions.count("1"), solutions.count("0")) == (80, 80)
    assert Image.open(root / "samdata/test/0_000.png").size == (224, 224)
