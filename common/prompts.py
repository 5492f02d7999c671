"""Protocol strings of the three papers, verbatim (SPEC 3, 4, 6).

These are facts of the protocol, not wording we may improve: a changed character changes what the released
models see. Every stage imports them from here so that training prompts and evaluation prompts cannot drift.
Snapshot tests (tests/common/test_prompts.py) pin each one.
"""

# Qwen2-VL's default system prompt; the upstream SFT template always prepends it (SPEC 3) and the chat template
# inserts it when a conversation has no system turn.
DEFAULT_SYSTEM = "You are a helpful assistant."

# SAMChat GRPO (SPEC 4): system text and the suffix appended to each question.
SAMCHAT_GRPO_SYSTEM = "You are an expert to analyze the image and provide useful information for users."
SAMCHAT_GRPO_SUFFIX = (
    " Output the thinking process in <reasoning> </reasoning> and final answer (summary of thinking) in "
    "<answer> </answer> tags."
)

# SAMData evaluation prompt (SPEC 6.1), also the human turn of the SAMChat SFT captions.
SAMDATA_PROMPT = "Explain this image in detail within one paragraph, using 4-6 sentences."

# SAMChat keyword test (SPEC 5, 6.1): a caption is "positive" when it names any of these.
SAMCHAT_KEYWORDS = ("military", "missile", "silo")

# R1 meta-instruction with <reasoning> tags: TinyRS GRPO system prompt and ScoreRS reasoning mode (SPEC 4, 6.2).
REASONING_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <reasoning> </reasoning> and <answer> </answer> tags, "
    "respectively, i.e., <reasoning> reasoning process here </reasoning><answer> answer here </answer>"
)

# VLM-R1 / GeoVLM-R1 style uses <think> tags (SPEC 4); tag names are configuration everywhere else.
THINK_SYSTEM = REASONING_SYSTEM.replace("reasoning>", "think>")

# ScoreRS prompt styles (SPEC 6.2). Task-type prefixes of the TinyRS style:
TINYRS_CLS_PREFIX = "{CLS} "
TINYRS_VQA_PREFIX = "{VQA} "
TINYRS_VG_PREFIX = "{VG} "
QWEN2VL_INSTRUCT_GROUNDING = (
    "Make your chain of thought reasoning and then output the bounding box of the following object in the image. "
    "<|object_ref_start|>{query}<|object_ref_end|>"
)
QWEN2VL_GROUNDING = (
    "Output the bounding box of the following object in the image. <|object_ref_start|>{query}<|object_ref_end|>"
)

# TinyRS judge (SPEC 5): model and sampling of the upstream grader.
JUDGE_MODEL = "gpt-4.1-mini-2025-04-14"
JUDGE_TEMPERATURE = 0.2

# GeoVLM-R1's system prompt is unpublished beyond its first words, "You are an expert in Earth Observation reasoning"
# (its paper's figure; EARTHDIAL.md 5). The rest is OURS: it states what the EarthDial answers need (the think /
# answer layout and the 0-100 five-number boxes the scorers read), nothing more.
GEOVLM_R1_SYSTEM = (
    "You are an expert in Earth Observation reasoning. You analyse remote sensing images, single or as a time "
    "series, step by step. First think about the question inside <think> </think> tags, then give only the final "
    "answer inside <answer> </answer> tags. Give every box as [x1, y1, x2, y2, angle] with integer corners on a "
    "0-100 grid of the image and the rotation angle in degrees."
)

# TinyRS judge, upstream request (SPEC 5): the grading text, sent as the system message, byte for byte as released
# (leading space, trailing spaces on lines 1-3, four-space indents, final newline; typos included), and the user
# text around the question and the student's answer.
JUDGE_SYSTEM_PROMPT = (
    " You are a teacher who is checking the answer of a student model. The student is trying to analyze "
    "the given image answer the given question. \n"
    "    Since these will get open ended answers, there are not correct responses. However, we can still "
    "grade its quality. \n"
    "    I would like you to analyze this image and analyze the reponse of my model and grade it between "
    "0-10, based on its explanatory abilities, quality of responses, choice of words etc. \n"
    "    Your only response should be a number between 0 to 10. \n"
    "    Question will be given in the <question> </question> tags. Answer of the student model will be "
    "given in the <answer> </answer> tags.\n"
)
JUDGE_USER_TEMPLATE = " <question> {question} </question> <answer> {answer} </answer> "
JUDGE_MAX_TOKENS = 32768
