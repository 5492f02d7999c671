"""The judge against a real OpenAI-compatible HTTP server on loopback, driven by scripted behaviours.

The server speaks the chat-completions wire format, so these tests exercise the real `openai` client: its error
classes, timeouts and connection errors, the request it sends, and the Authorization header carrying the key.
Backoff is 10 ms and only one test waits for a timeout (1 s), so the file runs in a few seconds.
"""

from __future__ import annotations

import base64
import doctest
import io
import json
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from PIL import Image

import grpo.judge as judge_module
from grpo.judge import COUNT_NAMES, GRADING_PROMPT, Judge, JudgeConfig, image_sha256

# The released grading text, written out by hand once, not taken from the code.
from tests.grpo.test_released_rewards import UPSTREAM_PROMPT as UPSTREAM_SYSTEM

KEY = "sk-test-0123456789-SECRET"
KEY_ENV = "RS_R1_TEST_JUDGE_KEY"
MODEL = "judge-test-model"


@dataclass(frozen=True)
class Step:
    """One scripted server behaviour: wait `delay` seconds, then answer `status` (200: a completion with `text`)."""

    status: int = 200
    text: str | None = "Score: 7"
    delay: float = 0.0


class FakeOpenAI:
    """Answers POST /v1/chat/completions from a script (steps consumed in order, the last one repeats)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: list[Step] = [Step()]
        self.requests: list[dict] = []  # {"path", "headers", "body"} per request received
        self.url = ""

    def reset(self, *steps: Step) -> None:
        with self.lock:
            self.script = list(steps) or [Step()]
            self.requests = []

    def take(self, path: str, headers: dict, body: dict) -> Step:
        with self.lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer  # with a `fake` attribute

    def do_POST(self) -> None:  # the name http.server dispatches to
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        step = self.server.fake.take(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if step.delay:
            threading.Event().wait(step.delay)
        if self.path != "/v1/chat/completions":
            status, payload = 404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
        elif step.status == 200:
            status, payload = 200, completion(body["model"], step.text)
        else:
            # Like the real API, echo the credential in the error message: the judge must not log it.
            message = f"scripted error; Authorization was {self.headers.get('Authorization')}"
            status, payload = step.status, {"error": {"message": message, "type": "scripted", "code": None}}
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def log_message(self, format, *args) -> None:  # http.server's signature
        pass  # keep pytest output clean


def completion(model: str, text: str | None) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.fake = FakeOpenAI()
    httpd.fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake(server, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # loopback must not go through a proxy
    monkeypatch.setenv(KEY_ENV, KEY)
    server.reset()
    return server


def config_for(url: str, **overrides) -> JudgeConfig:
    values = dict(
        model=MODEL, base_url=url, api_key_env=KEY_ENV, temperature=0.2, timeout=5.0, max_retries=2, backoff=0.01
    )
    return JudgeConfig(**{**values, **overrides})


def make_judge(fake: FakeOpenAI, **overrides) -> Judge:
    judge = Judge.from_config(config_for(fake.url, **overrides), needs_judge=True)
    assert judge is not None
    return judge


def picture(colour=(10, 200, 30), size=(16, 12), mode="RGB") -> Image.Image:
    return Image.new("RGB", size, colour).convert(mode)


def counts(**nonzero) -> dict[str, int]:
    return {name: nonzero.get(name, 0) for name in COUNT_NAMES}


def test_doctests():
    assert doctest.testmod(judge_module).failed == 0


def test_success_and_the_request_sent(fake):
    judge = make_judge(fake, prompt="improved")
    assert judge.score("How many planes are parked?", "Three planes.", picture(size=(16, 12))) == 0.7
    assert judge.counts == counts(calls=1)

    (request,) = fake.requests
    body = request["body"]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert body["model"] == MODEL
    assert body["temperature"] == 0.2
    (message,) = body["messages"]
    assert message["role"] == "user"
    text, image_part = message["content"]
    assert text["type"] == "text"
    assert "<question>How many planes are parked?</question>" in text["text"]
    assert "<answer>Three planes.</answer>" in text["text"]
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.removeprefix("data:image/jpeg;base64,"))))
    assert (sent.format, sent.size, sent.mode) == ("JPEG", (16, 12), "RGB")


def test_grading_prompt_snapshot():
    # A prompt change alters every judge reward: it must be deliberate (update this snapshot with it).
    assert GRADING_PROMPT.format(question="Q?", answer="A.") == (
        "You are grading a student's answer to a question about the attached remote-sensing image.\n"
        "<question>Q?</question>\n"
        "<answer>A.</answer>\n"
        "Judge how correct and complete the answer is for this image and question. Reply with a single score from 0 "
        "(wrong) to 10 (fully correct), as a number, and nothing else."
    )


@pytest.mark.parametrize(
    ("reply", "upstream", "improved", "garbage"),
    [
        ("Score: 7", 0.7, 0.7, 0),
        ("7.5/10", 0.75, 0.75, 0),
        ("I would give it 8 out of 10.", 0.8, 0.8, 0),
        ("10", 1.0, 1.0, 0),
        ("12", 1.0, 1.0, 0),  # clipped to 1
        ("-3", 0.3, 0.0, 0),  # upstream's unsigned pattern reads 3; ours reads -3, clipped to 0
        ("x1 = 7", 0.1, 0.7, 0),  # upstream reads the 1 of "x1"; ours skips names
        ("3.5.2", 0.35, 0.35, 0),  # the first decimal only
        ("0", 0.0, 0.0, 0),
        ("The answer is wrong.", 0.0, 0.0, 1),  # no number: garbage_value 0 (SPEC 5)
        ("", 0.0, 0.0, 1),
        (None, 0.0, 0.0, 1),  # null content
    ],
)
@pytest.mark.parametrize("prompt", ["upstream", "improved"])
def test_reply_to_reward(fake, reply, upstream, improved, garbage, prompt):
    fake.reset(Step(text=reply))
    judge = make_judge(fake, prompt=prompt)
    assert judge.score("q", "a", picture()) == (upstream if prompt == "upstream" else improved)
    assert judge.counts == counts(calls=1, garbage=garbage)


def test_garbage_value_none_and_garbage_not_cached(fake, caplog):
    fake.reset(Step(text="I cannot grade this."))
    judge = make_judge(fake, garbage_value=None)
    with caplog.at_level(logging.WARNING, logger="grpo.judge"):
        assert judge.score("q", "a", picture()) is None
        assert judge.score("q", "a", picture()) is None
    assert judge.counts == counts(calls=2, garbage=2)
    assert len(fake.requests) == 2  # a garbage reply is asked again next time
    assert "2 such replies so far" in caplog.text


def test_timeout_then_success(fake):
    fake.reset(Step(delay=3.0), Step(text="Score: 9"))
    judge = make_judge(fake, timeout=1.0)
    assert judge.score("q", "a", picture()) == 0.9
    assert judge.counts == counts(calls=1, retries=1)
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [429, 500, 503, 408])
def test_transient_status_then_success(fake, status):
    fake.reset(Step(status=status), Step(text="Score: 6"))
    judge = make_judge(fake)
    assert judge.score("q", "a", picture()) == 0.6
    assert judge.counts == counts(calls=1, retries=1)
    assert len(fake.requests) == 2


@pytest.mark.parametrize(("failure_value", "max_retries"), [(None, 2), (0.0, 3), (0.0, 0)])
def test_server_error_forever(fake, caplog, failure_value, max_retries):
    fake.reset(Step(status=500))
    judge = make_judge(fake, failure_value=failure_value, max_retries=max_retries)
    with caplog.at_level(logging.WARNING, logger="grpo.judge"):
        assert judge.score("q", "a", picture()) == failure_value
    assert judge.counts == counts(calls=1, retries=max_retries, failures=1)
    assert len(fake.requests) == max_retries + 1
    (record,) = [r for r in caplog.records if r.name == "grpo.judge"]
    assert record.levelno == logging.WARNING and record.exc_info is None  # one line, no traceback
    assert record.getMessage() == (
        f"judge failed after {max_retries + 1} request(s): InternalServerError (HTTP 500); "
        f"reward {failure_value}; 1 failures so far"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_error_fails_without_retry(fake, status):
    fake.reset(Step(status=status))
    judge = make_judge(fake)
    assert judge.score("q", "a", picture()) is None
    assert judge.counts == counts(calls=1, failures=1)
    assert len(fake.requests) == 1


def test_connection_refused_is_retried_then_counted(fake):
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    judge = make_judge(fake, base_url=f"http://127.0.0.1:{port}/v1", failure_value=0.0)
    assert judge.score("q", "a", picture()) == 0.0
    assert judge.counts == counts(calls=1, retries=2, failures=1)


def test_failure_is_not_cached(fake):
    fake.reset(Step(status=500), Step(status=500), Step(status=500), Step(text="Score: 4"))
    judge = make_judge(fake)
    assert judge.score("q", "a", picture()) is None
    assert judge.score("q", "a", picture()) == 0.4
    assert judge.counts == counts(calls=2, retries=2, failures=1)


@pytest.mark.parametrize(
    ("second", "hit"),
    [
        (("q", "a", picture()), True),  # identical pixels in a new object
        (("q", "a", picture(mode="RGB").copy()), True),
        (("q", "b", picture()), False),  # another answer
        (("q2", "a", picture()), False),  # another question
        (("q", "a", picture(colour=(10, 200, 31))), False),  # one channel of every pixel differs
        (("q", "a", picture(size=(12, 16))), False),  # same pixel count, other shape
        (("q", "a", None), False),  # no image
    ],
)
def test_cache_key(fake, second, hit):
    judge = make_judge(fake)
    assert judge.score("q", "a", picture()) == 0.7
    assert judge.score(*second) == 0.7
    assert judge.counts == counts(calls=2, cached=int(hit))
    assert len(fake.requests) == (1 if hit else 2)


def test_disk_cache_reloaded_by_a_new_judge(fake, tmp_path, caplog):
    cache = tmp_path / "run" / "judge_cache.jsonl"  # parent created on first write
    first = make_judge(fake, cache_path=str(cache))
    assert first.score("q", "a", picture()) == 0.7
    assert first.score("q", "other", picture()) == 0.7
    lines = cache.read_text().splitlines()
    assert [json.loads(line)["answer"] for line in lines] == ["a", "other"]
    assert json.loads(lines[0])["reply"] == "Score: 7"
    with cache.open("a") as handle:
        handle.write('{"key": "trunc')  # a run killed mid-write

    fake.reset(Step(text="Score: 2"))
    with caplog.at_level(logging.WARNING, logger="grpo.judge"):
        resumed = make_judge(fake, cache_path=str(cache))
    assert f"judge cache {cache}: skipped 1 unreadable line(s): [3]" in caplog.text
    assert resumed.score("q", "a", picture()) == 0.7  # the earlier judgement, not the server's new 2
    assert resumed.score("q", "new", picture()) == 0.2
    assert resumed.counts == counts(calls=2, cached=1)
    assert len(fake.requests) == 1


def test_disk_cache_is_per_judge_model(fake, tmp_path):
    cache = str(tmp_path / "judge_cache.jsonl")
    assert make_judge(fake, cache_path=cache).score("q", "a", picture()) == 0.7
    fake.reset(Step(text="Score: 3"))
    other = make_judge(fake, cache_path=cache, model="another-judge")
    assert other.score("q", "a", picture()) == 0.3
    assert other.counts == counts(calls=1)


@pytest.mark.parametrize("prompt", ["upstream", "improved"])
def test_image_none_sends_text_only(fake, prompt):
    judge = make_judge(fake, prompt=prompt)
    assert judge.score("q", "a", None) == 0.7
    message = fake.requests[0]["body"]["messages"][-1]
    assert [part["type"] for part in message["content"]] == ["text"]


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "1"])
def test_non_rgb_images_are_sent_as_rgb_jpeg(fake, mode):
    judge = make_judge(fake, prompt="improved")
    assert judge.score("q", "a", picture(mode=mode)) == 0.7
    url = fake.requests[0]["body"]["messages"][0]["content"][1]["image_url"]["url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url.removeprefix("data:image/jpeg;base64,"))))
    assert (sent.format, sent.mode) == ("JPEG", "RGB")


def test_unreadable_image_is_a_counted_failure(fake):
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buffer, format="PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))  # decoded lazily
    judge = make_judge(fake, failure_value=0.0)
    assert judge.score("q", "a", truncated) == 0.0
    assert judge.counts == counts(calls=1, failures=1)
    assert fake.requests == []


def test_image_sha256():
    assert image_sha256(None) == ""
    assert image_sha256(picture()) == image_sha256(picture())
    assert image_sha256(picture()) != image_sha256(picture(mode="L"))
    assert len(image_sha256(picture())) == 64


def test_concurrent_calls_keep_exact_counts(fake):
    judge = make_judge(fake)
    questions = [f"q{i % 4}" for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        rewards = list(pool.map(lambda q: judge.score(q, "a", picture()), questions))
    assert rewards == [0.7] * 16
    result = judge.counts
    assert result["calls"] == 16
    assert len(fake.requests) == 16 - result["cached"]  # racing misses of one key may both ask; never lost
    assert 4 <= len(fake.requests) <= 16
    before = len(fake.requests)
    assert [judge.score(f"q{i}", "a", picture()) for i in range(4)] == [0.7] * 4
    assert len(fake.requests) == before  # every question is now cached


def test_injected_client():
    calls = []

    def create(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("not an openai error")
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content="5"))])

    client = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))
    judge = Judge(JudgeConfig(model=MODEL, backoff=0.01), client=client)
    assert judge.score("q", "a", None) is None  # unknown errors are not retried, and never raised
    assert judge.score("q", "b", None) == 0.5
    assert judge.counts == counts(calls=2, failures=1)
    assert calls[1]["model"] == MODEL and calls[1]["temperature"] == 0.2


@pytest.mark.parametrize("value", [None, ""])
def test_missing_key_with_open_ended_rows_is_a_clear_error(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(ValueError, match=rf"environment variable {KEY_ENV}.*--judge_policy skip"):
        Judge.from_config(config_for("http://127.0.0.1:9/v1"), needs_judge=True)


@pytest.mark.parametrize(("policy", "needs_judge"), [("judge", False), ("skip", True), ("skip", False)])
def test_no_judge_needed_needs_no_key(monkeypatch, policy, needs_judge):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert Judge.from_config(config_for("http://127.0.0.1:9/v1", policy=policy), needs_judge=needs_judge) is None


def test_key_is_read_once(fake, monkeypatch):
    judge = make_judge(fake)
    monkeypatch.setenv(KEY_ENV, "sk-changed-later")
    assert judge.score("q", "a", None) == 0.7
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


def test_key_never_in_logs_reprs_or_cache(fake, tmp_path, caplog):
    cache = tmp_path / "judge_cache.jsonl"
    config = config_for(fake.url, cache_path=str(cache))
    # Every outcome, with the server echoing the Authorization header in its error messages, and every logger
    # (ours, openai's, httpx's) at DEBUG.
    fake.reset(Step(status=401), Step(status=429), Step(status=500), Step(status=500), Step(status=500))
    with caplog.at_level(logging.DEBUG):
        judge = Judge.from_config(config, needs_judge=True)
        assert judge.score("q1", "a", picture()) is None  # 401: no retry
        assert judge.score("q2", "a", picture()) is None  # 429, 500, 500: out of retries
        fake.reset(Step(text="nothing"), Step(text="Score: 7"))
        assert judge.score("q3", "a", picture()) == 0.0  # garbage
        assert judge.score("q4", "a", picture()) == 0.7
        assert judge.score("q4", "a", picture()) == 0.7  # cached
    assert judge.counts == counts(calls=5, cached=1, retries=2, failures=2, garbage=1)
    assert "InternalServerError (HTTP 500)" in caplog.text and "AuthenticationError (HTTP 401)" in caplog.text
    for text in (caplog.text, repr(judge), repr(config), str(judge.counts), cache.read_text()):
        assert KEY not in text
        assert "SECRET" not in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"policy": "local"}, "judge policy must be one of"),
        ({"timeout": 0.0}, "timeout must be > 0"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"backoff": -0.5}, "backoff must be >= 0"),
        ({"prompt": "ours"}, "judge prompt must be one of"),
        ({"max_tokens": 0}, "max_tokens must be a positive int"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        JudgeConfig(**overrides)


def recording_client(reply: str = "8"):
    calls: list[dict] = []

    def create(**kwargs):
        calls.append(kwargs)
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=reply))])

    return calls, SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))


def test_default_request_is_upstreams_field_by_field():
    stored_b64 = "/9j/NOT-REENCODED+abc=="  # the dataset's string is sent as is, whatever it holds
    calls, client = recording_client("8")
    judge = Judge(JudgeConfig(), client=client)  # every default: prompt "upstream"
    assert judge.score("  What is here? ", "An airport.", picture(), image_base64=stored_b64) == 0.8
    (request,) = calls
    assert request == {
        "model": "gpt-4.1-mini-2025-04-14",
        "temperature": 0.2,
        "max_tokens": 32768,
        "messages": [
            {"role": "system", "content": UPSTREAM_SYSTEM},
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": " <question>   What is here?  </question> <answer> An airport. </answer> ",
                    },
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/NOT-REENCODED+abc=="}},
                ],
            },
        ],
    }


def test_upstream_prompt_without_a_stored_string_reencodes_the_image():
    calls, client = recording_client()
    Judge(JudgeConfig(), client=client).score("q", "a", picture(size=(16, 12)))
    url = calls[0]["messages"][1]["content"][1]["image_url"]["url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url.removeprefix("data:image/jpeg;base64,"))))
    assert (sent.format, sent.size) == ("JPEG", (16, 12))


@pytest.mark.parametrize(
    ("first", "second", "hit"),
    [
        (("q", "a", None, "AAA"), ("q", "a", None, "AAA"), True),  # same stored string
        (("q", "a", None, "AAA"), ("q", "a", None, "AAB"), False),  # another stored string
        (("q", "a", None, "AAA"), ("q", "a", picture(), None), False),  # the pixels instead of the string
    ],
)
def test_upstream_cache_key_uses_the_stored_string(first, second, hit):
    calls, client = recording_client()
    judge = Judge(JudgeConfig(), client=client)
    judge.score(*first[:3], image_base64=first[3])
    judge.score(*second[:3], image_base64=second[3])
    assert len(calls) == (1 if hit else 2)


def test_max_tokens_none_is_not_sent():
    calls, client = recording_client()
    Judge(JudgeConfig(max_tokens=None, prompt="improved"), client=client).score("q", "a", None)
    assert "max_tokens" not in calls[0] and calls[0]["messages"][0]["role"] == "user"


def test_grpo_imports_no_openai_until_a_judge_is_built():
    # Every GRPO run imports this module (grpo.configs); the client library costs about a second and only judged
    # runs need it.
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    code = "import sys, grpo.configs, grpo.judge; print('openai' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
