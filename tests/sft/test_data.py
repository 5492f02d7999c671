"""sft.data: prompt templates token-exact (SPEC 3), label masking, media, lengths, bad data, collator, preview CLI."""

import json
from pathlib import Path

import pytest
import torch

from common.data import DataError, Record, Turn, read_llava
from common.modeling import load_model, load_processor
from sft.configs import DataArguments
from sft.data import (
    IGNORE_INDEX,
    Segment,
    SFTCollator,
    SFTDataset,
    build_dataset,
    encode,
    expand_placeholders,
    main,
    render_official,
    render_paper,
    supervised_runs,
)

VIS = "<|vision_start|><|image_pad|><|vision_end|>"
VID = "<|vision_start|><|video_pad|><|vision_end|>"
SYSTEM = "<|im_start|>system\nYou are a helpful assistant.\n<|im_end|>\n"


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return load_processor(tiny_model_dir, padding_side="right")


@pytest.fixture(scope="module")
def samdata(synthetic_dir):
    folder = synthetic_dir / "samdata" / "train"
    return read_llava(folder / "sam_300_reasoning_inst.json", folder).records


@pytest.fixture(scope="module")
def vhm(synthetic_dir):
    folder = synthetic_dir / "vhm"
    return read_llava(folder / "list_sft_oversampled.json", folder).records


def by_id(records, record_id):
    return next(r for r in records if r.id == record_id)


def replies(record):
    return [t.content for t in record.turns if t.role == "assistant"]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("<image>\nDescribe.", VIS + "Describe."),  # LLaVA's usual form: the newline after goes
        ("Describe.\n<image>", "Describe." + VIS),  # the newline before goes
        ("Describe.<image>", "Describe." + VIS),  # no newline to swallow
        ("A\n\n<image>\n\nB", "A\n" + VIS + "\nB"),  # only ONE newline on each side
        ("<image>\n<image>\nCompare.", VIS + VIS + "Compare."),  # two images
        ("<video>\nWhat happens?", VID + "What happens?"),
        ("No placeholder.", "No placeholder."),
    ],
)
def test_expand_placeholders(content, expected):
    assert expand_placeholders(content) == expected


def test_render_paper_multi_turn_exact():
    turns = [
        Turn("user", "<image>\nWhat is this?"),
        Turn("assistant", "A port."),
        Turn("user", "How many ships?"),
        Turn("assistant", "Three."),
    ]
    assert render_paper(turns) == [
        Segment(SYSTEM, False),
        Segment(f"<|im_start|>user\n{VIS}What is this?\n<|im_end|>\n<|im_start|>assistant\n", False),
        Segment("A port.\n<|im_end|>\n", True),
        Segment("<|im_start|>user\nHow many ships?\n<|im_end|>\n<|im_start|>assistant\n", False),
        Segment("Three.\n<|im_end|>\n", True),
    ]


def test_render_paper_uses_record_system_turn():
    segments = render_paper([Turn("system", "Be brief."), Turn("user", "Hi"), Turn("assistant", "Hello.")])
    assert segments[0] == Segment("<|im_start|>system\nBe brief.\n<|im_end|>\n", False)
    assert len(segments) == 3


def test_render_official_is_qwen_template(processor):
    turns = [Turn("user", "<image>\nWhat is this?"), Turn("assistant", "A port."), Turn("user", "Sure?"),
             Turn("assistant", "Yes.")]  # fmt: skip
    assert render_official(turns, processor) == [
        Segment(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            f"<|im_start|>user\n{VIS}What is this?<|im_end|>\n<|im_start|>assistant\n",
            False,
        ),
        Segment("A port.<|im_end|>\n", True),
        Segment("<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\n", False),
        Segment("Yes.<|im_end|>\n", True),
    ]


@pytest.mark.parametrize("template, closing", [("paper", "\n<|im_end|>\n"), ("official", "<|im_end|>\n")])
def test_labels_are_exactly_the_replies(samdata, vhm, processor, template, closing):
    """Token-exact: each supervised run is the tokenised reply + closing tokens; nothing else is supervised."""
    tokenizer = processor.tokenizer
    records = samdata + [by_id(vhm, "sft_0001_multiturn"), by_id(vhm, "sft_text_0000"), by_id(vhm, "sft_pair_0000")]
    for record in records:
        item = encode(record, processor, template)
        expected = [tokenizer(reply + closing, add_special_tokens=False)["input_ids"] for reply in replies(record)]
        assert supervised_runs(item["input_ids"], item["labels"]) == expected, record.id
        assert int((item["labels"] != IGNORE_INDEX).sum()) == sum(map(len, expected))


@pytest.mark.parametrize("template", ["paper", "official"])
def test_segmentwise_ids_equal_whole_text(samdata, vhm, processor, template):
    """Tokenising segment by segment gives the ids of the whole rendered text run through the processor at once."""
    from sft.data import _media, render

    for record in [samdata[0], by_id(vhm, "sft_0001_multiturn"), by_id(vhm, "sft_pair_0000")]:
        images, _ = _media(record)
        text = "".join(s.text for s in render(record.turns, template, processor))
        whole = processor(text=[text], images=images or None, return_tensors="pt")
        item = encode(record, processor, template)
        assert torch.equal(item["input_ids"], whole["input_ids"][0])
        assert torch.equal(item["mm_token_type_ids"], whole["mm_token_type_ids"][0])
        assert torch.equal(item["pixel_values"], whole["pixel_values"])


def test_no_bos_or_eos_added(samdata, processor):
    item = encode(samdata[0], processor, "paper")
    tokenizer = processor.tokenizer
    assert item["input_ids"][0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert item["input_ids"][-1] == tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    assert tokenizer.pad_token_id not in item["input_ids"].tolist()


def test_media_inputs(vhm, processor):
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text_only = encode(by_id(vhm, "sft_text_0000"), processor, "paper")
    assert "pixel_values" not in text_only and image_id not in text_only["input_ids"].tolist()
    pair = encode(by_id(vhm, "sft_pair_0000"), processor, "paper")
    assert pair["image_grid_thw"].tolist() == [[1, 8, 8], [1, 8, 8]]  # 112 px images at the tiny model's limits
    assert int((pair["input_ids"] == image_id).sum()) == 2 * 16  # 8x8 patches merged 2x2, per image
    assert int((pair["mm_token_type_ids"] == 1).sum()) == 32


@pytest.mark.parametrize("max_pixels, grid", [(None, [1, 8, 8]), (56 * 56, [1, 4, 4])])
def test_pixel_limits_are_honoured(tiny_model_dir, samdata, max_pixels, grid):
    """SPEC 7.1: upstream's pixel flags were silently ignored; here they change the image tokens."""
    processor = load_processor(tiny_model_dir, max_pixels=max_pixels)
    item = encode(samdata[0], processor, "paper")
    assert item["image_grid_thw"].tolist() == [grid]


def test_video_record(tmp_path, tiny_model_dir, processor):
    av = pytest.importorskip("av")
    import numpy as np

    path = tmp_path / "clip.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=4)
    stream.width = stream.height = 64
    stream.pix_fmt = "yuv420p"
    for i in range(8):  # 2 s at 4 fps; sampled at video_fps 2 -> 4 frames -> 2 temporal patches
        frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 30 * i, np.uint8), format="rgb24")
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
    container.close()
    video_processor = load_processor(tiny_model_dir, video_fps=2.0)
    record = Record("v", "clips.json", 0, [Turn("user", "<video>\nWhat changes?"), Turn("assistant", "It brightens.")],
                    images=[], videos=[str(path)])  # fmt: skip
    item = encode(record, video_processor, "paper")
    video_id = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    t, h, w = item["video_grid_thw"][0].tolist()
    assert (t, h, w) == (2, 4, 4)
    assert int((item["input_ids"] == video_id).sum()) == t * h * w // 4
    dataset = SFTDataset([record], video_processor, max_length=None)
    assert dataset.lengths == [len(item["input_ids"])]


@pytest.mark.parametrize("template", ["paper", "official"])
def test_lengths_measured_without_decoding_match_encoding(samdata, vhm, processor, template):
    dataset = SFTDataset(samdata + vhm, processor, template=template, max_length=None)
    assert dataset.lengths == [len(dataset[i]["input_ids"]) for i in range(len(dataset))]


def test_overlong_truncate_keeps_media_and_first_reply(samdata, vhm, processor):
    record = by_id(vhm, "sft_0001_multiturn")
    full = encode(record, processor, "paper")
    first_reply = int((full["labels"] != IGNORE_INDEX).nonzero()[0])
    limit = first_reply + 3
    dataset = SFTDataset([record], processor, max_length=limit, overlong_policy="truncate")
    item = dataset[0]
    assert dataset.lengths == [limit] and len(item["input_ids"]) == limit
    assert torch.equal(item["input_ids"], full["input_ids"][:limit])
    assert int((item["labels"] != IGNORE_INDEX).sum()) == 3
    assert len(dataset.overlong.truncated) == 1 and not dataset.overlong.skipped
    # A cut before the first reply token (here: inside the image) cannot be repaired by truncation: skipped.
    with pytest.raises(ValueError, match="no training records left"):
        SFTDataset([record], processor, max_length=first_reply, overlong_policy="truncate")


@pytest.mark.parametrize("policy", ["skip", "error"])
def test_overlong_skip_and_error(samdata, processor, policy):
    lengths = SFTDataset(samdata, processor, max_length=None).lengths
    limit = sorted(lengths)[len(lengths) // 2]
    longer = sum(length > limit for length in lengths)
    assert 0 < longer < len(lengths)
    if policy == "skip":
        dataset = SFTDataset(samdata, processor, max_length=limit, overlong_policy="skip")
        assert len(dataset) == len(samdata) - longer and len(dataset.overlong.skipped) == longer
        assert max(dataset.lengths) <= limit
    else:
        first = next(i for i, length in enumerate(lengths) if length > limit)
        where = rf"sam_300_reasoning_inst.json: record {first + 1} \(id '{samdata[first].id}'\)"
        with pytest.raises(DataError, match=rf"{where}: \d+ tokens exceed"):
            SFTDataset(samdata, processor, max_length=limit, overlong_policy="error")


@pytest.fixture
def broken_json(synthetic_dir, tmp_path) -> Path:
    folder = synthetic_dir / "samdata" / "train"
    data = json.loads((folder / "sam_300_inst.json").read_text())
    data[2]["image"] = "missing.jpg"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_bad_records_are_validated_before_training(broken_json, synthetic_dir, processor, policy):
    args = DataArguments(data_path=str(broken_json), image_folder=str(synthetic_dir / "samdata" / "train"),
                         data_policy=policy)  # fmt: skip
    if policy == "error":
        with pytest.raises(DataError, match=r"broken.json: record 3 \(id 'sam_0002'\): image not found"):
            build_dataset(args, processor)
    else:
        assert len(build_dataset(args, processor)) == 5


def test_collator_pads_right(samdata, vhm, processor):
    collator = SFTCollator.from_processor(processor)
    items = [encode(samdata[0], processor, "paper"), encode(by_id(vhm, "sft_text_0000"), processor, "paper")]
    batch = collator(items)
    lengths = [len(i["input_ids"]) for i in items]
    width = max(lengths)
    assert batch["input_ids"].shape == (2, width)
    for row, n in enumerate(lengths):
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        assert batch["input_ids"][row, n:].eq(processor.tokenizer.pad_token_id).all()
        assert batch["labels"][row, n:].eq(IGNORE_INDEX).all()
        assert torch.equal(batch["labels"][row, :n], items[row]["labels"])
    assert torch.equal(batch["pixel_values"], items[0]["pixel_values"])
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8]]


@pytest.mark.parametrize("arch", ["qwen2_vl", "qwen2_5_vl"])
def test_dummy_vision_pass_keeps_loss_and_reaches_the_tower(tiny_model_dir, tmp_path, vhm, arch):
    """Text-only batch with the dummy image: same loss, and every vision parameter takes part (zero gradient)."""
    from offline.tiny_model import build_tiny_model

    model_dir = tiny_model_dir if arch == "qwen2_vl" else build_tiny_model(tmp_path / arch, arch=arch)
    model, processor = load_model(model_dir), load_processor(model_dir)
    items = [encode(by_id(vhm, f"sft_text_000{i}"), processor, "paper") for i in range(2)]
    plain = SFTCollator.from_processor(processor)(items)
    padded = SFTCollator.from_processor(processor, vision_pass_for_text_only=True)(items)
    assert "pixel_values" not in plain and padded["image_grid_thw"].tolist() == [[1, 2, 2]]
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((padded["input_ids"] == image_id).sum()) == 1  # one merged token, after the last row's text
    assert padded["input_ids"].shape[1] - plain["input_ids"].shape[1] <= 1  # absorbed by padding when it can
    assert padded["attention_mask"].sum() == plain["attention_mask"].sum()
    assert padded["labels"].ne(IGNORE_INDEX).sum() == plain["labels"].ne(IGNORE_INDEX).sum()
    loss_plain = model(**plain).loss
    loss_padded = model(**padded).loss
    assert loss_padded.item() == pytest.approx(loss_plain.item(), abs=1e-6)
    loss_padded.backward()
    visual = model.model.visual
    assert all(p.grad is not None for p in visual.parameters())
    assert max(p.grad.abs().max().item() for p in visual.parameters()) == 0.0


def test_preview_cli_paper_template(tiny_model_dir, synthetic_dir, samdata, capsys, repo_root):
    folder = synthetic_dir / "samdata" / "train"
    code = main([
        "preview", "--config", str(repo_root / "configs/sft/demo.yaml"),
        "--model_name_or_path", str(tiny_model_dir),
        "--data_path", str(folder / "sam_300_reasoning_inst.json"), "--image_folder", str(folder),
        "--learning_rate", "1e-4",  # a training field: accepted and irrelevant here
        "--n", "2",
    ])  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [r.id for r in samdata[:2]]
    for row, record in zip(rows, samdata):
        assert row["supervised"] == [reply + "\n<|im_end|>\n" for reply in replies(record)]
        assert row["text"].startswith(SYSTEM + "<|im_start|>user\n" + VIS + "Explain this image")
        assert row["text"].endswith(replies(record)[0] + "\n<|im_end|>\n")


def test_preview_cli_rejects_unknown_flags(tiny_model_dir, repo_root, capsys):
    code = main(["preview", "--config", str(repo_root / "configs/sft/demo.yaml"), "--model_name_or_path",
                 str(tiny_model_dir), "--no_such_flag", "1"])  # fmt: skip
    assert code == 2
    assert "--no_such_flag" in capsys.readouterr().err


def test_build_dataset_skips_a_truncated_jpeg_counted(processor, tmp_path, caplog):
    from tests import faults

    faults.noise_jpeg(tmp_path / "a.jpg")
    faults.noise_jpeg(tmp_path / "cut.jpg", keep=0.6)  # decoding it mid-run would abort SFT
    rows = [
        {"image": name, "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]}
        for name in ("a.jpg", "cut.jpg")
    ]
    path = tmp_path / "sft.json"
    path.write_text(json.dumps(rows))
    args = DataArguments(data_path=str(path), image_folder=str(tmp_path), data_policy="skip")
    with caplog.at_level("WARNING"):
        dataset = build_dataset(args, processor)
    assert len(dataset) == 1 and f"{path}: skipped 1 of 2 records (policy skip)" in caplog.text
    assert dataset[0]["pixel_values"].shape[0] > 0
    with pytest.raises(DataError, match=r"sft\.json: record 2: image truncated"):
        build_dataset(DataArguments(data_path=str(path), image_folder=str(tmp_path)), processor)
