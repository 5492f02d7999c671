"""One generation stack: the web demo streams through eval's backend, so a request gets the same text from eval's
batched path (the predictions file) and the demo's streamed path; sampling is the demo's sliders and nothing else.

The random tiny model greedily repeats the prompt's last token (tied embeddings: a newline), which would make every
equality trivial; the `backend` fixture scales its attention and MLP outputs up so each request gets its own reply.
About 3 s on two CPU cores (a few dozen 16-token generations of the tiny model), hence not marked slow.
"""

import pytest
import torch
from PIL import Image

from common.modeling import load_model_and_processor
from eval.backends import GREEDY, HFBackend, Request, Sampling, check_max_new_tokens
from eval.generate import generate_task, read_predictions
from eval.serve_core import Settings, chat_messages, samdata_messages, stream_reply, validate_upload
from eval.tasks import TASKS, PromptOptions
from eval.tasks.base import QWEN_STOP

MAX_NEW_TOKENS = 16
# Qwen2-VL-2B-Instruct's generation_config.json sampling defaults: top_k 1 makes any sampling greedy.
QWEN2_VL_SAMPLING_DEFAULTS = {"do_sample": True, "temperature": 0.01, "top_p": 0.001, "top_k": 1}


@pytest.fixture(scope="module")
def backend(tiny_model_dir) -> HFBackend:
    """The tiny model with its attention and MLP outputs scaled up, so that each request gets its own reply."""
    model, processor = load_model_and_processor(str(tiny_model_dir))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "visual" not in name and name.endswith(("o_proj.weight", "down_proj.weight")):
                parameter.mul_(50)
    return HFBackend(model, processor)


@pytest.fixture(scope="module")
def images():
    return [Image.new("RGB", (56, 56), (90, 120, 60)), Image.new("RGB", (84, 56), (200, 40, 10))]


def test_predictions_file_equals_the_demos_streamed_samchat_check(backend, synthetic_dir, tmp_path):
    task = TASKS["samdata"]
    rows = task.load(synthetic_dir / "samdata" / "test")[:6]
    # eval's path: batches of 4 (left-padded), appended to predictions.jsonl.
    options = {"prompt": PromptOptions(), "settings": {}, "batch_size": 4, "max_new_tokens": MAX_NEW_TOKENS}
    generate_task(task, rows, lambda: backend, tmp_path, **options)
    predictions = {r["id"]: r["prediction"] for r in read_predictions(tmp_path / "samdata" / "predictions.jsonl")}
    # the demo's path: each file read as an upload, the SAMChat check's request, streamed at temperature 0.
    streamed = {}
    for row in rows:
        image = validate_upload(row["image"])
        replies = list(stream_reply(backend, samdata_messages(), [image], Settings(0.0, MAX_NEW_TOKENS)))
        assert all(later.startswith(earlier) for earlier, later in zip(replies, replies[1:]))
        streamed[row["id"]] = replies[-1]
    assert streamed == predictions
    assert len(set(predictions.values())) >= 3  # the replies differ per image: the equality is not trivial
    assert all(text.strip() for text in predictions.values())


@pytest.mark.parametrize(
    "requests",
    [
        # one image each, different prompt lengths (left padding) and both system prompts
        lambda images: [
            Request(chat_messages("What?", 1, reasoning=False), images[0]),
            Request(chat_messages("Which kind of site is shown in this image?", 1, reasoning=True), images[1]),
        ],
        # a two-image request (a bi-temporal pair) batched beside a one-image request
        lambda images: [
            Request(chat_messages("What changed?", 2, reasoning=False), list(images)),
            Request(chat_messages("What?", 1, reasoning=False), images[1]),
        ],
    ],
)
def test_batched_and_streamed_greedy_replies_agree(backend, images, requests):
    batch = requests(images)
    generated = [g.text for g in backend.generate(batch, max_new_tokens=MAX_NEW_TOKENS, stop=QWEN_STOP)]
    streamed = [list(backend.stream(r, max_new_tokens=MAX_NEW_TOKENS, stop=QWEN_STOP))[-1] for r in batch]
    assert streamed == generated
    assert generated[0] != generated[1]


def test_streamed_sampling_matches_batched_sampling_with_the_same_seed(backend, images):
    request = Request(chat_messages("What?", 1, reasoning=False), images[0])
    sampling = Sampling(temperature=1.0, top_p=0.9)
    options = {"max_new_tokens": MAX_NEW_TOKENS, "stop": QWEN_STOP, "sampling": sampling}
    torch.manual_seed(7)
    (generated,) = backend.generate([request], **options)
    torch.manual_seed(7)
    streamed = list(backend.stream(request, **options))[-1]
    assert streamed == generated.text
    assert generated.text != backend.generate([request], max_new_tokens=MAX_NEW_TOKENS, stop=QWEN_STOP)[0].text


def test_checkpoint_sampling_defaults_do_not_leak(backend, images, monkeypatch):
    # A checkpoint that samples by default, nearly greedily (Qwen2-VL's shipped generation config).
    for key, value in QWEN2_VL_SAMPLING_DEFAULTS.items():
        monkeypatch.setattr(backend.model.generation_config, key, value)
    request = Request(chat_messages("What?", 1, reasoning=False), images[0])

    def reply(sampling, seed):
        torch.manual_seed(seed)
        return backend.generate([request], max_new_tokens=MAX_NEW_TOKENS, stop=QWEN_STOP, sampling=sampling)[0].text

    # greedy stays greedy (the checkpoint's do_sample=True is overridden): any seed, the same reply
    assert reply(GREEDY, 0) == reply(GREEDY, 1)
    # sampling at temperature 1 samples (the checkpoint's top_k 1 / top_p 0.001 are overridden): seeds differ
    sampled = {reply(Sampling(1.0), seed) for seed in range(3)}
    assert len(sampled) == 3 and reply(GREEDY, 0) not in sampled


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Sampling(temperature=-0.1), "temperature must be >= 0, got -0.1"),
        (lambda: Sampling(top_p=0.0), r"top_p must be in \(0, 1\], got 0.0"),
        (lambda: Sampling(top_p=1.5), r"top_p must be in \(0, 1\], got 1.5"),
        (lambda: check_max_new_tokens(0), "max new tokens must be >= 1, got 0"),
        # the demo's sliders go through the same checks
        (lambda: Settings(temperature=-1.0), "temperature must be >= 0, got -1.0"),
        (lambda: Settings(top_p=0.0), r"top_p must be in \(0, 1\], got 0.0"),
        (lambda: Settings(max_new_tokens=0), "max new tokens must be >= 1, got 0"),
    ],
)
def test_decoding_settings_refused(make, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        make()


def test_demo_settings_are_the_backends_sampling():
    # Settings carries the sliders into the backend's Sampling unchanged
    assert Settings(0.7, 64, 0.8).sampling == Sampling(0.7, 0.8)
    assert Settings().sampling == GREEDY and GREEDY.greedy
