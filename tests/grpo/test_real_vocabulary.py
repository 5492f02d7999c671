"""GRPO on the real Qwen2-VL vocabulary: the prompt TRL renders for a SAMChat row, token-exact at its ends and image
span, and the rewards on decoded completions (tags are several tokens; special tokens are skipped on decode)."""

import pytest
from trl.data_utils import prepare_multimodal_messages

from common.modeling import load_processor
from common.prompts import SAMCHAT_GRPO_SUFFIX, SAMCHAT_GRPO_SYSTEM
from grpo.configs import GRPOScriptArguments
from grpo.data import build_dataset
from grpo.rewards import build_reward_funcs

SYSTEM_START = [151644, 8948, 198]  # <|im_start|> system \n
ASSISTANT_START = [151645, 198, 151644, 77091, 198]  # <|im_end|> \n <|im_start|> assistant \n
VISION = (151652, 151655, 151653)  # <|vision_start|> <|image_pad|> <|vision_end|>


@pytest.fixture(scope="module")
def processor(qwen2_tiny_model_dir):
    return load_processor(qwen2_tiny_model_dir, padding_side="left")


def test_samchat_prompt_token_ids(synthetic_dir, processor):
    data = build_dataset(GRPOScriptArguments(dataset_name=str(synthetic_dir / "samdata/grpo")), processor)
    row = data.dataset[0]
    messages = prepare_multimodal_messages(row["prompt"], row["images"])  # what GRPOTrainer does with the row
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = processor(text=[text], images=row["images"], return_tensors="pt")["input_ids"][0].tolist()
    tokenizer = processor.tokenizer
    system = tokenizer(SAMCHAT_GRPO_SYSTEM, add_special_tokens=False).input_ids
    assert ids[: 3 + len(system) + 1] == SYSTEM_START + system + [151645]
    assert ids[-5:] == ASSISTANT_START  # the completion starts right after `assistant\n`
    start = ids.index(VISION[0])
    assert ids[start + 1 : start + 17] == [VISION[1]] * 16 and ids[start + 17] == VISION[2]  # 112 px image
    suffix = tokenizer(SAMCHAT_GRPO_SUFFIX, add_special_tokens=False).input_ids
    assert ids[-5 - len(suffix) : -5] == suffix  # the R1 tag instruction ends the user turn
    assert len(ids) == 93


@pytest.mark.parametrize(
    "completion, rewards",
    [
        # what the model emits, <|im_end|> included; decoded with skip_special_tokens as TRL does
        ("<reasoning>Launch pads in a ring.</reasoning>\n<answer>A missile site.</answer><|im_end|>", [1.0, 1.0]),
        ("<reasoning>Fields.</reasoning><answer>Farmland.</answer><|im_end|>", [1.0, 0.0]),  # format only
        ("<reason>Pads.</reason><answer>A missile site.</answer>", [0.0, 1.0]),  # a wrong tag: no format reward
    ],
)
def test_rewards_on_decoded_completions(processor, completion, rewards):
    tokenizer = processor.tokenizer
    decoded = tokenizer.decode(tokenizer(completion).input_ids, skip_special_tokens=True)
    funcs = build_reward_funcs(["format", "samchat_keyword"], GRPOScriptArguments().reward_options(), None)
    scored = [
        func(completions=[[{"role": "assistant", "content": decoded}]], solution=["1"], task=["samchat"])[0]
        for func in funcs
    ]
    assert scored == rewards
