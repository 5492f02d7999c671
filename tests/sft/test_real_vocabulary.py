"""SFT data on the real Qwen2-VL vocabulary (the tiny model with `--tokenizer qwen2`): label masking token-exact,
segment-wise ids equal to the whole text's, lengths measured without encoding equal to the encoded ones, and the
reasoning / answer tags as the several ordinary tokens they are there."""

import pytest
import torch

from common.data import read_llava
from common.modeling import load_processor
from sft.data import IGNORE_INDEX, SFTDataset, _media, encode, render, supervised_runs

# Qwen2 ids: <|im_start|> system \n ... <|im_end|> \n; `<reasoning>` is `<` `reason` `ing` `>`.
SYSTEM_START = [151644, 8948, 198]
REASONING_OPEN = [27, 19895, 287]


@pytest.fixture(scope="module")
def processor(qwen2_tiny_model_dir):
    return load_processor(qwen2_tiny_model_dir, padding_side="right")


@pytest.fixture(scope="module")
def records(synthetic_dir):
    folder = synthetic_dir / "samdata" / "train"
    vhm = synthetic_dir / "vhm"
    return (
        read_llava(folder / "sam_300_reasoning_inst.json", folder).records[:6]
        + read_llava(vhm / "list_sft_oversampled.json", vhm).records[:6]
    )


@pytest.mark.parametrize("template, closing", [("paper", "\n<|im_end|>\n"), ("official", "<|im_end|>\n")])
def test_labels_are_exactly_the_replies(records, processor, template, closing):
    tokenizer = processor.tokenizer
    for record in records:
        item = encode(record, processor, template)
        replies = [turn.content for turn in record.turns if turn.role == "assistant"]
        expected = [tokenizer(reply + closing, add_special_tokens=False).input_ids for reply in replies]
        assert supervised_runs(item["input_ids"], item["labels"]) == expected, record.id
        assert int((item["labels"] != IGNORE_INDEX).sum()) == sum(map(len, expected))


def test_first_record_token_exact(records, processor):
    item = encode(records[0], processor, "paper")
    ids = item["input_ids"].tolist()
    assert ids[:3] == SYSTEM_START
    assert len(ids) == 145 and item["image_grid_thw"].tolist() == [[1, 8, 8]]
    assert ids.count(151655) == 16  # <|image_pad|>: 8x8 patches merged 2x2
    (reply,) = supervised_runs(item["input_ids"], item["labels"])
    assert reply[:3] == REASONING_OPEN  # the reply opens with the multi-token tag, supervised from its first token
    assert reply[-5:] == [3918, 9217, 397, 151645, 198]  # `</` `answer` `>\n` <|im_end|> `\n`: the paper's newline
    assert len(reply) == 91


@pytest.mark.parametrize("template", ["paper", "official"])
def test_segmentwise_ids_equal_whole_text(records, processor, template):
    # BPE merges across a segment boundary would make the masked encoding differ from the text the model sees.
    for record in records:
        images, _ = _media(record)
        text = "".join(segment.text for segment in render(record.turns, template, processor))
        whole = processor(text=[text], images=images or None, return_tensors="pt")
        assert torch.equal(encode(record, processor, template)["input_ids"], whole["input_ids"][0]), record.id


@pytest.mark.parametrize("template", ["paper", "official"])
def test_lengths_measured_without_encoding(records, processor, template):
    dataset = SFTDataset(records, processor, template=template, max_length=None)
    assert dataset.lengths == [len(dataset[i]["input_ids"]) for i in range(len(dataset))]
    if template == "paper":
        assert dataset.lengths[:5] == [145, 115, 128, 128, 162]
