"""SAMChat and TinyRS GRPO exactly as released (issue 10): keyword tag case, the upstream IoU mode, prompts rendered
with the question as stored, and the TinyRS judge request, each checked against values read from the released code
(aybora/SAMChat bfb267f, aybora/TinyRS ff524f4; SPEC 4, 5)."""

import base64
import io
import json
from types import SimpleNamespace

import pytest
from datasets import Dataset, DatasetDict, Features, List, Value
from datasets import Image as ImageFeature
from PIL import Image
from trl.data_utils import prepare_multimodal_messages

from common.modeling import load_processor
from common.prompts import REASONING_SYSTEM
from grpo.configs import GRPOScriptArguments
from grpo.data import build_dataset, turn_question_text
from grpo.judge import Judge, JudgeConfig
from grpo.rewards import RewardOptions, build_reward_funcs, samchat, tinyrs
from grpo.rewards.__main__ import main as rewards_main

KEYWORDS = ("military", "missile", "silo")


def reward(name, text, solution, task, options=None, judge=None, **columns):
    (func,) = build_reward_funcs([name], options or RewardOptions(), judge)
    rows = {"solution": [solution], "task": [task], **{key: [value] for key, value in columns.items()}}
    return func(prompts=[[]], completions=[[{"role": "assistant", "content": text}]], **rows)[0]


# ---------------------------------------------------------------------------------------------------------------
# 3. SAMChat keyword reward: `<answer>` tags matched case-sensitively, as released


def test_issue_case_capitalised_tags_are_no_answer_group():
    # Upstream 0.0: no `<answer>` group, so the whole text is read and "paramilitary" is a keyword hit.
    assert reward("samchat_keyword", "<Answer></Answer> paramilitary", "0", "samchat") == 0.0


@pytest.mark.parametrize(
    ("text", "solution", "sensitive", "insensitive"),
    [
        ("<Answer></Answer> paramilitary", "0", 0.0, 1.0),  # the issue's case; the option reads an empty answer
        ("<answer>Farmland</answer> military", "0", 1.0, 1.0),  # lower-case tags: the group only, either way
        ("<ANSWER>farmland</ANSWER> military", "1", 1.0, 0.0),  # whole text (sensitive) vs the group (insensitive)
        ("<reasoning>a silo?</reasoning><Answer>Farmland</Answer>", "0", 0.0, 1.0),  # the reasoning is read too
        ("<answer>A Missile site</answer>", "1", 1.0, 1.0),  # the answer is lower-cased, the tags are not
        ("<answer>silo</ANSWER> end", "1", 1.0, 1.0),  # no matching closing tag: whole text, which names silo
    ],
)
def test_keyword_tag_case(text, solution, sensitive, insensitive):
    assert reward("samchat_keyword", text, solution, "samchat") == sensitive
    options = RewardOptions(samchat_tag_case="insensitive")
    assert reward("samchat_keyword", text, solution, "samchat", options) == insensitive
    assert samchat.keyword_reward(text, solution, KEYWORDS) == sensitive


def test_tag_case_option_is_validated():
    with pytest.raises(ValueError, match="samchat_tag_case must be one of"):
        RewardOptions(samchat_tag_case="lower")


# ---------------------------------------------------------------------------------------------------------------
# 4. iou_mode upstream: the predicted box against itself through upstream's IoU


def test_issue_case_inverted_box_scores_zero():
    options = RewardOptions(iou_mode="upstream")
    assert reward("iou", "<answer>[852, 712, 72, 729]</answer>", "[10, 10, 20, 30]", "bbox", options) == 0.0


@pytest.mark.parametrize(
    ("answer", "solution", "expected"),
    [
        ("[500, 500, 900, 900]", "[10, 10, 20, 30]", 1.0),  # any proper box: 1, the true box never read
        ("[852, 712, 72, 729]", "[10, 10, 20, 30]", 0.0),  # x inverted: negative area, negative union
        ("[900, 900, 100, 100]", "[10, 10, 20, 30]", 0.0),  # both inverted: zero intersection, positive union
        ("[5, 5, 5, 9]", "[10, 10, 20, 30]", 0.0),  # zero width: zero union
        ("[5, 5, 9, 5]", "[10, 10, 20, 30]", 0.0),  # zero height
        ("box -5, 1, 10, 10", "[10, 10, 20, 30]", 1.0),  # `\d+` runs: the sign is not read (5, 1, 10, 10)
        ("[1.5, 2, 3, 4]", "[10, 10, 20, 30]", 0.0),  # "1.5" is 1 and 5: (1, 5, 2, 3), y inverted
        ("[0, 0, 1, 1] and [9, 9, 1, 1]", "[10, 10, 20, 30]", 1.0),  # the first four integers only
        ("[1, 2, 3]", "[10, 10, 20, 30]", 0.0),  # fewer than four integers: upstream's IndexError, 0
        ("[1, 2, 3, 4]", "no box", 0.0),  # a solution without digits: IndexError upstream, 0
        ("[1, 2, 3, 4]", "7", 1.0),  # any digit in the solution will do
        ("[0, 0, " + "9" * 400 + ", 1]", "[1, 1, 2, 2]", 1.0),  # exact integers, beyond float range
    ],
)
def test_upstream_iou_mode(answer, solution, expected):
    options = RewardOptions(iou_mode="upstream")
    assert reward("iou", f"<answer>{answer}</answer>", solution, "bbox", options) == expected
    assert tinyrs.box_reward(answer, solution, "upstream") == expected


# ---------------------------------------------------------------------------------------------------------------
# 5 and SPEC 4. GRPO prompts: the question exactly as stored, rendered as TRL renders it


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return load_processor(tiny_model_dir, padding_side="left")


def jpeg_base64(image):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="module")
def samchat_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("samchat_grpo")
    Image.new("RGB", (64, 48), (90, 120, 60)).save(folder / "a.jpg")
    row = {"file_name": "a.jpg", "question": "  Is there a missile site?", "solution": "1"}
    (folder / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    return folder


TINYRS_QUESTION = "How many revetments are there in the image? "
TINYRS_IMAGE = Image.new("RGB", (64, 48), (200, 180, 120))
TINYRS_B64 = jpeg_base64(TINYRS_IMAGE)


@pytest.fixture(scope="module")
def tinyrs_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tinyrs_grpo")
    prompt = [
        {"role": "system", "content": [{"type": "text", "text": REASONING_SYSTEM}]},
        {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": TINYRS_QUESTION}]},
    ]
    solutions = [["1", "3", TINYRS_QUESTION, TINYRS_B64], ["0", "An apron with jets.", TINYRS_QUESTION, TINYRS_B64]]
    part = {"type": Value("string"), "text": Value("string")}
    features = Features(
        {
            "prompt": List({"role": Value("string"), "content": List(part)}),
            "image": ImageFeature(),
            "solution": List(Value("string")),
        }
    )
    data = {"prompt": [prompt] * 2, "image": [TINYRS_IMAGE] * 2, "solution": solutions}
    DatasetDict({"train": Dataset.from_dict(data, features=features)}).save_to_disk(str(folder))
    return folder


def rendered(processor, row):
    # What trl.GRPOTrainer hands the processor: the row's images put before the user text, then the chat template.
    messages = prepare_multimodal_messages(row["prompt"], images=row["images"])
    return processor.apply_chat_template([messages], add_generation_prompt=True, tokenize=False)[0]


def test_issue_case_samchat_question_keeps_its_leading_spaces(samchat_dir, processor):
    row = build_dataset(GRPOScriptArguments(dataset_name=str(samchat_dir)), processor).dataset[0]
    assert row["prompt"][1]["content"].startswith("  Is there a missile site? Output")
    assert row["question"] == "  Is there a missile site?"


def test_issue_case_tinyrs_question_keeps_its_trailing_space(tinyrs_dir, processor):
    row = build_dataset(GRPOScriptArguments(dataset_name=str(tinyrs_dir)), processor).dataset[0]
    assert row["prompt"][1]["content"] == "How many revetments are there in the image? "


def test_samchat_r1_training_prompt(samchat_dir, processor):
    # SPEC 4, written out by hand: the SAMChat system text, then the image and the question with its suffix.
    row = build_dataset(GRPOScriptArguments(dataset_name=str(samchat_dir)), processor).dataset[0]
    assert rendered(processor, row) == (
        "<|im_start|>system\n"
        "You are an expert to analyze the image and provide useful information for users.<|im_end|>\n"
        "<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>  Is there a missile site? Output the thinking process in "
        "<reasoning> </reasoning> and final answer (summary of thinking) in <answer> </answer> tags.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_tinyrs_r1_training_prompt(tinyrs_dir, processor):
    # SPEC 4 / 6.2, written out by hand: the dataset's R1 system text with <reasoning> tags, the image, the question.
    row = build_dataset(GRPOScriptArguments(dataset_name=str(tinyrs_dir)), processor).dataset[0]
    assert rendered(processor, row) == (
        "<|im_start|>system\n"
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
        "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
        "The reasoning process and answer are enclosed within <reasoning> </reasoning> and <answer> </answer> tags, "
        "respectively, i.e., <reasoning> reasoning process here </reasoning><answer> answer here </answer>"
        "<|im_end|>\n"
        "<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>How many revetments are there in the image? <|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.parametrize(
    ("content", "strip", "expected"),
    [
        ("<image>  Is there a missile site?", False, "  Is there a missile site?"),  # SAMChat / TinyRS: as stored
        ("<image>q? ", False, "q? "),  # trailing space kept
        ("<image>\n\tq\n", False, "\n\tq\n"),  # any whitespace kept
        ("<image>\nq ", True, "q"),  # JSONL: the `<image>\n` prefix and the ends trimmed
        ("a <image> b<video>", False, "a  b"),  # every placeholder goes, wherever it is
    ],
)
def test_turn_question_text(content, strip, expected):
    assert turn_question_text(content, strip=strip) == expected


# ---------------------------------------------------------------------------------------------------------------
# 6. The TinyRS judge request, recorded by a fake client


# The released grading text (SPEC 5), written out by hand: a leading space, lines 1-3 end with a space, lines 2-5
# start with four spaces, a final newline, upstream's typos kept.
UPSTREAM_PROMPT = (
    " You are a teacher who is checking the answer of a student model. The student is trying to analyze the given"
    " image answer the given question. \n"
    "    Since these will get open ended answers, there are not correct responses. However, we can still grade its"
    " quality. \n"
    "    I would like you to analyze this image and analyze the reponse of my model and grade it between 0-10, based"
    " on its explanatory abilities, quality of responses, choice of words etc. \n"
    "    Your only response should be a number between 0 to 10. \n"
    "    Question will be given in the <question> </question> tags. Answer of the student model will be given in the"
    " <answer> </answer> tags.\n"
)


class RecordingClient:
    """Any object with the openai v1 `chat.completions.create`: records each request, answers `reply`."""

    def __init__(self, reply="7"):
        self.reply = reply
        self.requests = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **kwargs):
        self.requests.append(kwargs)
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=self.reply))])


def test_issue_case_judge_request_is_upstreams(tinyrs_dir, processor):
    row = build_dataset(GRPOScriptArguments(dataset_name=str(tinyrs_dir)), processor).dataset[1]
    assert row["task"] == "open_ended" and row["upstream_solution"][3] == TINYRS_B64
    client = RecordingClient("7")
    judge = Judge(GRPOScriptArguments().judge_config(), client=client)  # the recipe defaults
    text = "<reasoning>r</reasoning><answer> Four revetments. </answer>"
    assert (
        reward(
            "tinyrs_accuracy",
            text,
            row["solution"],
            "open_ended",
            judge=judge,
            **{key: row[key] for key in ("question", "images", "upstream_solution")},
        )
        == 0.7
    )
    (request,) = client.requests
    # Upstream's client.chat.completions.create(...) call, field by field (SPEC 5).
    assert request.keys() == {"model", "messages", "temperature", "max_tokens"}
    assert request["model"] == "gpt-4.1-mini-2025-04-14"
    assert request["temperature"] == 0.2
    assert request["max_tokens"] == 32768
    system, user = request["messages"]
    assert system == {"role": "system", "content": UPSTREAM_PROMPT}
    assert user["role"] == "user"
    text_part, image_part = user["content"]
    assert text_part == {
        "type": "text",
        "text": " <question> How many revetments are there in the image?  </question> <answer> Four revetments. "
        "</answer> ",
    }
    # The dataset's own base64 string, not a re-encoding of the decoded image.
    assert image_part == {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + TINYRS_B64}}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("7", 0.7),
        ("-3", 0.3),  # upstream's unsigned `\d+(\.\d+)?`: the sign is not read
        ("x1 = 7", 0.1),  # the first digits anywhere, here those of "x1"
        ("8.5 out of 10", 0.85),
        ("15", 1.0),  # clipped to [0, 1]
        ("10/10", 1.0),
        ("no score", 0.0),  # no number: 0
    ],
)
def test_upstream_judge_replies(reply, expected):
    judge = Judge(JudgeConfig(), client=RecordingClient(reply))
    row = {"question": "q", "images": [None], "upstream_solution": ["0", "a", "q", "AAAA"]}
    assert reward("tinyrs_accuracy", "<answer>a</answer>", "a", "open_ended", judge=judge, **row) == expected


def test_improved_judge_prompt_stays_an_option():
    client = RecordingClient("-3")
    judge = Judge(JudgeConfig(prompt="improved"), client=client)
    row = {"question": "q", "images": [TINYRS_IMAGE], "upstream_solution": ["0", "a", "q", TINYRS_B64]}
    assert reward("tinyrs_accuracy", "<answer>a</answer>", "a", "open_ended", judge=judge, **row) == 0.0
    (message,) = client.requests[0]["messages"]
    assert message["role"] == "user" and "<question>q</question>" in message["content"][0]["text"]


# ---------------------------------------------------------------------------------------------------------------
# Also: `python -m grpo.rewards` takes dataset rows as stored upstream, mapped as grpo/data.py maps them

TINYRS_ROW = {"solution": ["1", "airport", "What is this place? ", "QUJD"]}
SAMCHAT_ROW = {"file_name": "grpo_0001.jpg", "question": "  Is there a missile site?", "solution": "1"}
JSONL_ROW = {
    "id": 7,
    "image": "images/a.png",
    "conversations": [{"from": "human", "value": "<image>How many planes?"}, {"from": "gpt", "value": "3"}],
    "task": "counting",
}


@pytest.mark.parametrize(
    ("row", "reward_names", "completion", "expected"),
    [
        (TINYRS_ROW, "tinyrs_accuracy", "<answer>Airport.</answer>", 1.0),  # answer type "1": short_answer
        (TINYRS_ROW, "tinyrs_accuracy", "<answer>harbour</answer>", 0.0),
        ({"solution": ["2", "[10, 10, 20, 30]", "q", "QUJD"]}, "tinyrs_accuracy", "[10, 10, 20, 20]", 0.5),  # bbox
        ({"solution": ["0", "a caption", "q", "QUJD"]}, "tinyrs_accuracy", "<answer>x</answer>", None),  # judge
        (SAMCHAT_ROW, "samchat_keyword", "<answer>A missile silo.</answer>", 1.0),
        ({**SAMCHAT_ROW, "solution": "0"}, "samchat_keyword", "<answer>A missile silo.</answer>", 0.0),
        (JSONL_ROW, "geovlm_accuracy", "<think>t</think><answer>3</answer>", 1.0),  # the gpt turn is the solution
        ({**JSONL_ROW, "accu_reward_method": "counting", "task": "vqa"}, "geovlm_accuracy", "<answer>3</answer>", 1.0),
    ],
)
def test_rewards_cli_takes_upstream_dataset_rows(tmp_path, capsys, row, reward_names, completion, expected):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({**row, "completion": completion}) + "\n")
    assert rewards_main(["--reward", reward_names, "--input", str(path)]) == 0
    assert capsys.readouterr().out == ("null" if expected is None else json.dumps(expected)) + "\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"solution": ["5", "a", "q", "b"]}, 'bad TinyRS row: answer_type must be "0", "1" or "2", got \'5\''),
        ({"solution": ["1", "a", "q"]}, "bad TinyRS row: 'solution' must be a list"),
        ({"file_name": "a.jpg", "question": "q", "solution": "yes"}, "bad SAMChat metadata row: 'solution' must be"),
        ({"conversations": [{"from": "human", "value": "q"}]}, "bad JSONL row:"),
    ],
)
def test_rewards_cli_names_a_bad_dataset_row(tmp_path, capsys, row, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({**row, "completion": "x"}) + "\n")
    assert rewards_main(["--reward", "format", "--input", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {path}:1: {message}")
