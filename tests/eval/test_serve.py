"""The web demo's logic without a browser: uploads, prompts, reply splitting, verdicts, streaming, example images."""

import numpy as np
import pytest
from PIL import Image

from common.prompts import DEFAULT_SYSTEM, REASONING_SYSTEM, SAMDATA_PROMPT
from eval.backends import HFBackend
from eval.serve import example_images
from eval.serve_core import (
    MAX_IMAGES,
    NO_REASONING,
    Settings,
    UploadError,
    chat_messages,
    load_uploads,
    samchat_verdicts,
    samdata_messages,
    split_reply,
    stream_reply,
    validate_upload,
)


@pytest.mark.parametrize(
    ("text", "reasoning", "answer"),
    [
        # the R1 layout: both parts apart
        ("<reasoning>a ring of pads</reasoning><answer>missile site</answer>", "a ring of pads", "missile site"),
        # no tags at all (the untrained model): placeholder, whole reply as the answer
        ("  farmland \n", NO_REASONING, "farmland"),
        # still streaming inside the reasoning block: no answer yet
        ("<reasoning>a ring of", "a ring of", ""),
        # reasoning closed, answer without tags: the text after </reasoning> (ScoreRS cut, SPEC 6.2)
        ("<reasoning>r</reasoning> lake", "r", "lake"),
        # answer tag never closed: the ScoreRS parser keeps the rest
        ("<reasoning>r</reasoning><answer>Forest", "r", "Forest"),
        # a stray closing tag alone is not a reasoning block
        ("x </reasoning> y", NO_REASONING, "x </reasoning> y"),
    ],
)
def test_split_reply(text, reasoning, answer):
    assert split_reply(text) == (reasoning, answer)


@pytest.mark.parametrize(
    ("caption", "paper", "strict"),
    [
        ("A missile site with revetments.", True, True),
        ("There are no military structures here.", True, False),  # the paper's substring test counts negations
        ("Paramilitary housing blocks.", True, False),
        ("Farmland in stripes.", False, False),
        ("<reasoning>silo?</reasoning><answer>Crop fields.</answer>", False, False),  # only the answer is read
    ],
)
def test_samchat_verdicts(caption, paper, strict):
    assert samchat_verdicts(caption) == {"paper": paper, "strict": strict}


@pytest.mark.parametrize(("reasoning", "system"), [(False, DEFAULT_SYSTEM), (True, REASONING_SYSTEM)])
def test_chat_messages(reasoning, system):
    messages = chat_messages("How many pads?", 2, reasoning=reasoning)
    assert messages == [
        {"role": "system", "content": [{"type": "text", "text": system}]},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "How many pads?"}],
        },
    ]


def test_samdata_messages_are_the_eval_request():
    assert samdata_messages() == [
        {"role": "system", "content": [{"type": "text", "text": DEFAULT_SYSTEM}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": SAMDATA_PROMPT}]},
    ]


def write(path, kind):
    if kind == "png":
        Image.new("RGB", (8, 6), (10, 20, 30)).save(path)
    elif kind == "rgba_png":
        Image.new("RGBA", (8, 6), (10, 20, 30, 0)).save(path)
    elif kind == "gray16_tiff":
        Image.fromarray(np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000).save(path)
    elif kind == "jpeg":
        Image.new("RGB", (8, 6), (200, 100, 0)).save(path, format="JPEG")
    return path


@pytest.mark.parametrize(
    ("name", "kind", "pixel"),
    [
        ("a.png", "png", (10, 20, 30)),
        ("a.png", "rgba_png", (0, 0, 0)),  # transparent: composited on black (common.data.load_image)
        ("a.tif", "gray16_tiff", (0, 0, 0)),  # 16-bit: stretched, darkest pixel -> 0
        ("a.jpg", "jpeg", None),
    ],
)
def test_validate_upload_reads_images_as_rgb(tmp_path, name, kind, pixel):
    image = validate_upload(write(tmp_path / name, kind))
    assert (image.mode, image.size) == ("RGB", (8, 6))
    if pixel is not None:
        assert image.getpixel((0, 0)) == pixel


@pytest.mark.parametrize(
    ("content", "max_bytes", "message"),
    [
        (b"just some notes", 1000, "notes.txt: not a readable image (PNG, JPEG or GeoTIFF expected)"),
        (b"\x89PNG\r\n\x1a\n truncated", 1000, "notes.txt: not a readable image (PNG, JPEG or GeoTIFF expected)"),
    ],
)
def test_validate_upload_refuses_with_a_message(tmp_path, content, max_bytes, message):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(UploadError) as excinfo:
        validate_upload(path, max_bytes=max_bytes)
    assert str(excinfo.value) == message


def test_size_limit_message_in_mib(tmp_path):
    path = tmp_path / "big.tif"
    path.write_bytes(b"\0" * (3 * 2**20))
    with pytest.raises(UploadError, match=r"^big\.tif: 3\.0 MiB is over the 2 MiB upload limit$"):
        validate_upload(path, max_bytes=2 * 2**20)


def test_load_uploads_all_or_none(tmp_path):
    good = write(tmp_path / "a.png", "png")
    bad = tmp_path / "b.txt"
    bad.write_text("text")
    assert len(load_uploads([good, good])) == 2
    with pytest.raises(UploadError, match="^b.txt: not a readable image"):
        load_uploads([good, bad])
    with pytest.raises(UploadError, match="upload at least one image"):
        load_uploads([])
    with pytest.raises(UploadError, match=f"{MAX_IMAGES + 1} images uploaded; at most {MAX_IMAGES}"):
        load_uploads([good] * (MAX_IMAGES + 1))


@pytest.mark.parametrize(
    ("temperature", "max_new_tokens", "top_p", "message"),
    [
        (-0.1, 10, 1.0, "temperature must be >= 0"),
        (0.0, 0, 1.0, "max new tokens must be >= 1"),
        (1.0, 10, 0.0, "top_p must be in"),
    ],
)
def test_settings_refuse_bad_values(temperature, max_new_tokens, top_p, message):
    with pytest.raises(ValueError, match=message):
        Settings(temperature, max_new_tokens, top_p)


def test_example_images_rendered_when_no_dataset(tmp_path):
    paths = example_images(tmp_path, tmp_path / "missing")
    assert [p.name for p in paths] == ["0_positive_easy.png", "1_positive_hard.png", "2_negative.png"]
    assert all(Image.open(p).mode == "RGB" for p in paths)


def test_example_images_from_samdata_test_folder(tmp_path, synthetic_dir):
    test_dir = synthetic_dir / "samdata" / "test"
    paths = example_images(tmp_path, test_dir)
    assert [p.parent for p in paths] == [test_dir] * 3
    assert [p.name[0] for p in paths] == ["0", "1", "2"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_hf_backend_streams_growing_prefixes(tiny_model_dir):
    backend = HFBackend.from_pretrained(str(tiny_model_dir))
    image = Image.new("RGB", (56, 56), (90, 120, 60))
    messages = chat_messages("What is shown?", 1, reasoning=False)
    greedy = list(stream_reply(backend, messages, [image], Settings(0.0, 12)))
    assert len(greedy) >= 2
    assert all(later.startswith(earlier) for earlier, later in zip(greedy, greedy[1:]))
    # greedy decoding is deterministic: the same request streams the same reply
    assert list(stream_reply(backend, messages, [image], Settings(0.0, 12)))[-1] == greedy[-1]
    assert list(stream_reply(backend, messages, [image], Settings(1.0, 12, 0.9)))


def test_validate_upload_refuses_a_decompression_bomb_by_its_header(tmp_path):
    from tests import faults

    pytest.importorskip("tifffile")
    path = faults.tiff_bomb(tmp_path / "scene.tif")  # 656 bytes declaring 15000 x 15000 x 3 uint16 (2.7 GB float32)
    with pytest.raises(UploadError, match=r"^scene\.tif: image too large \(225,000,000 pixels is over the limit"):
        validate_upload(path)
