"""The LLM judge that scores TinyRS open-ended answers (SPEC 5), made safe to leave running for days (SPEC 7.6 #6).

Upstream built a new OpenAI client on every reward call, read the key on every call (so a run crashed on the first
batch without OPENAI_API_KEY, even when no open-ended row existed), and let any API error kill training. Here:

- the key is read once, in `Judge.from_config`, and only required when open-ended rows exist under policy "judge";
  policy "skip" needs no key (grpo/data.py drops the open-ended rows);
- one client is built once; `base_url` points it at any OpenAI-compatible server (a local vLLM, for example);
- timeouts, connection errors, 408/409/429 and 5xx are retried with exponential backoff; a request that still fails,
  and a reply without a number, are counted, logged in one WARNING line and scored with a configurable value
  (None by default for failures: TRL then leaves the row out of the step; 0 for garbage, as in SPEC 5);
  `score` never raises;
- judgements are cached by (judge model, prompt, question, answer, image) in memory and, optionally, in a JSONL
  file that a resumed run reloads;
- the key lives only inside the client: `Judge` and `JudgeConfig` never hold it, so no repr, log line or saved
  config can show it.

The request itself is upstream's by default (prompt "upstream", SPEC 5): the released grading text as the system
message, the user text ` <question> q </question> <answer> a </answer> ` with the dataset's own base64 JPEG
(solution[3], sent as is, never re-encoded), gpt-4.1-mini-2025-04-14 at temperature 0.2 with max_tokens 32768, and
the reward read as the first unsigned `\\d+(\\.\\d+)?` of the reply / 10, clipped to [0, 1] ("-3" gives 0.3).
Prompt "improved" is this project's own grading text in one user message, the image re-encoded from its pixels, and
a reply parser that reads signed numbers and skips names such as "x1" (`common.parsing.first_number`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from common.parsing import first_number
from common.prompts import (
    JUDGE_MAX_TOKENS,
    JUDGE_MODEL,
    JUDGE_SYSTEM_PROMPT,
    JUDGE_TEMPERATURE,
    JUDGE_USER_TEMPLATE,
)

if TYPE_CHECKING:
    import openai

# openai (about a second to import) is imported where a judge is built or its errors are read: every GRPO run
# imports this module through grpo.configs, and only runs with open-ended rows and a judge need the client.

logger = logging.getLogger(__name__)

JUDGE_POLICIES = ("judge", "skip")
JUDGE_PROMPTS = ("upstream", "improved")
COUNT_NAMES = ("calls", "cached", "retries", "failures", "garbage")

# Grading prompt of judge_prompt "improved": one 0-10 score of the student's answer to the question, both given in <question> and
# <answer> tags, with the image attached to the same user message. The facts are upstream's; the wording is ours.
# The reward reads the first number of the reply, so the prompt asks for the number alone.
GRADING_PROMPT = (
    "You are grading a student's answer to a question about the attached remote-sensing image.\n"
    "<question>{question}</question>\n"
    "<answer>{answer}</answer>\n"
    "Judge how correct and complete the answer is for this image and question. Reply with a single score from 0 "
    "(wrong) to 10 (fully correct), as a number, and nothing else."
)

# The status codes the OpenAI SDK itself treats as transient (its own retry policy, disabled here so that every
# retry is ours and counted): request timeout, lock conflict, rate limit, and any server error.
_TRANSIENT_STATUS = frozenset({408, 409, 429})


@dataclass
class JudgeConfig:
    """How the judge is reached and how its failures score. Holds the NAME of the key's environment variable only."""

    policy: str = "judge"  # "judge": score open-ended rows with the LLM; "skip": open-ended rows are dropped upstream
    model: str = JUDGE_MODEL
    base_url: str | None = None  # None: the OpenAI API (or OPENAI_BASE_URL); else any OpenAI-compatible server
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = JUDGE_TEMPERATURE
    max_tokens: int | None = JUDGE_MAX_TOKENS  # the request's max_tokens (None: not sent, the server's default)
    prompt: str = "upstream"  # see JUDGE_PROMPTS: the released request and parser, or this project's
    timeout: float = 30.0  # seconds per request
    max_retries: int = 5  # retries after the first attempt, for transient errors only
    backoff: float = 1.0  # seconds before the first retry; doubles at each further retry
    failure_value: float | None = None  # reward when a request still fails after the retries (None: row left out)
    garbage_value: float | None = 0.0  # reward for a reply without a number (SPEC 5: 0)
    cache_path: str | None = None  # JSONL file of judgements, appended to and reloaded by a resumed run

    def __post_init__(self) -> None:
        if self.policy not in JUDGE_POLICIES:
            raise ValueError(f"judge policy must be one of {JUDGE_POLICIES}, got {self.policy!r}")
        if self.prompt not in JUDGE_PROMPTS:
            raise ValueError(f"judge prompt must be one of {JUDGE_PROMPTS}, got {self.prompt!r}")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or self.max_tokens <= 0):
            raise ValueError(f"judge max_tokens must be a positive int or None, got {self.max_tokens!r}")
        if self.timeout <= 0:
            raise ValueError(f"judge timeout must be > 0 seconds, got {self.timeout}")
        if self.max_retries < 0:
            raise ValueError(f"judge max_retries must be >= 0, got {self.max_retries}")
        if self.backoff < 0:
            raise ValueError(f"judge backoff must be >= 0 seconds, got {self.backoff}")


def image_sha256(image: Image.Image | None) -> str:
    """Hash of the decoded pixels (mode, size, raw bytes): the same picture gives the same key whatever file or
    encoder it came from, and a cache hit costs no JPEG encoding. "" for no image."""
    if image is None:
        return ""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def jpeg_data_url(image: Image.Image) -> str:
    """The image as a base64 JPEG data URL, the form the chat API accepts inline (SPEC 5)."""
    buffer = io.BytesIO()
    # JPEG has no alpha or palette: RGBA / P / L inputs are converted so that any image the dataset holds can be sent.
    (image if image.mode == "RGB" else image.convert("RGB")).save(buffer, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grading_messages(question: str, answer: str, image: Image.Image | None) -> list[dict[str, Any]]:
    """Prompt "improved": the grading prompt and, when there is one, the re-encoded image, in one user turn."""
    content: list[dict[str, Any]] = [{"type": "text", "text": GRADING_PROMPT.format(question=question, answer=answer)}]
    if image is not None:
        content.append({"type": "image_url", "image_url": {"url": jpeg_data_url(image)}})
    return [{"role": "user", "content": content}]


def upstream_messages(
    question: str, answer: str, image: Image.Image | None, image_base64: str | None = None
) -> list[dict[str, Any]]:
    """Prompt "upstream" (SPEC 5): the released grading text as the system message; the user turn holds the tagged
    question and answer, then the image as `data:image/jpeg;base64,` + the dataset's own base64 string (TinyRS
    solution[3]). Rows without that string (other formats, offline rows) send their decoded image re-encoded."""
    content: list[dict[str, Any]] = [
        {"type": "text", "text": JUDGE_USER_TEMPLATE.format(question=question, answer=answer)}
    ]
    if image_base64 is not None:
        content.append({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + image_base64}})
    elif image is not None:
        content.append({"type": "image_url", "image_url": {"url": jpeg_data_url(image)}})
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": content}]


_UPSTREAM_SCORE_RE = re.compile(r"\d+(\.\d+)?")


def reward_from_reply_upstream(reply: str) -> float | None:
    """Prompt "upstream" (SPEC 5): the first unsigned `\\d+(\\.\\d+)?` anywhere in the reply / 10, clipped to [0, 1];
    None when there is none. Signs and names are not seen: "-3" reads 3, "x1 = 7" reads 1.

    >>> reward_from_reply_upstream("-3"), reward_from_reply_upstream("x1 = 7"), reward_from_reply_upstream("12/10")
    (0.3, 0.1, 1.0)
    >>> reward_from_reply_upstream("no idea") is None
    True
    """
    match = _UPSTREAM_SCORE_RE.search(reply)
    if match is None:
        return None
    return max(0.0, min(float(match.group(0)) / 10.0, 1.0))


def reward_from_reply(reply: str) -> float | None:
    """Prompt "improved": first number of the reply / 10, clipped to [0, 1]; None when the reply holds no number.

    >>> reward_from_reply("Score: 7")
    0.7
    >>> reward_from_reply("12/10"), reward_from_reply("-3"), reward_from_reply("no idea")
    (1.0, 0.0, None)
    """
    number = first_number(reply)
    if number is None:
        return None
    return min(1.0, max(0.0, number / 10.0))


def _is_transient(error: Exception) -> bool:
    import openai

    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in _TRANSIENT_STATUS or error.status_code >= 500
    return False


def _describe(error: Exception) -> str:
    """One short line about a failed request. Status errors give only class and code: a 401 message quotes part
    of the key, and a server's body may echo request headers."""
    import openai

    if isinstance(error, openai.APIStatusError):
        return f"{type(error).__name__} (HTTP {error.status_code})"
    if isinstance(error, openai.OpenAIError):
        return type(error).__name__
    return f"{type(error).__name__}: {str(error)[:200]}"


def _cache_key(model: str, prompt: str, question: str, answer: str, image_hash: str) -> str:
    # Model and prompt are part of the key so that a cache file reused with another judge or request does not pass
    # off old scores.
    return hashlib.sha256(json.dumps([model, prompt, question, answer, image_hash]).encode()).hexdigest()


class MissingKeyError(ValueError):
    """The judge is needed but its key is not in the environment: a start-up error, reported without a traceback."""


def _api_key(config: JudgeConfig) -> str:
    key = os.environ.get(config.api_key_env, "")
    if not key:
        raise MissingKeyError(
            f"the judge needs an API key in the environment variable {config.api_key_env}: the data has open-ended "
            f"rows and judge_policy is 'judge'. Set {config.api_key_env} (any non-empty value for a local server "
            "without authentication), choose another variable with --judge_api_key_env, or pass "
            "--judge_policy skip to drop the open-ended rows."
        )
    return key


def _openai_client(config: JudgeConfig, api_key: str) -> openai.OpenAI:
    # max_retries=0: the SDK would otherwise retry silently, and the counts must show every retry.
    import openai

    return openai.OpenAI(api_key=api_key, base_url=config.base_url, timeout=config.timeout, max_retries=0)


class Judge:
    """Scores (question, answer, image) triples with an OpenAI-compatible chat model; thread-safe.

    `counts`: calls (every `score` call), cached (answered from the cache), retries (requests repeated after a
    transient error), failures (calls with no reply after the retries, or a non-transient error), garbage (replies
    without a number). Requests sent = calls - cached + retries.
    """

    def __init__(self, config: JudgeConfig, client: Any | None = None):
        """`client`: any object with the openai v1 `chat.completions.create` API; None builds the OpenAI client
        from `config`, with the key from the environment variable `config.api_key_env`."""
        self.config = config
        self._client = client if client is not None else _openai_client(config, _api_key(config))
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNT_NAMES, 0)
        self._cache: dict[str, float] = {}
        if config.cache_path:
            self._cache.update(_load_cache(Path(config.cache_path)))
        logger.info(
            "judge: model %s at %s; cache %s (%d judgements loaded)",
            config.model,
            config.base_url or "the SDK default (OPENAI_BASE_URL or the OpenAI API)",
            config.cache_path or "in memory only",
            len(self._cache),
        )

    @classmethod
    def from_config(cls, config: JudgeConfig, *, needs_judge: bool) -> Judge | None:
        """The run's judge, or None when nothing needs one (policy "skip", or no open-ended rows).

        The key is read here, once; a missing key is an error only when a judge is needed.
        """
        if config.policy == "skip" or not needs_judge:
            return None
        return cls(config)

    def __repr__(self) -> str:
        return f"Judge(model={self.config.model!r}, base_url={self.config.base_url!r}, counts={self.counts})"

    @property
    def counts(self) -> dict[str, int]:
        """A snapshot of the running counts (see the class docstring)."""
        with self._lock:
            return dict(self._counts)

    def score(
        self, question: str, answer: str, image: Image.Image | None, image_base64: str | None = None
    ) -> float | None:
        """Reward in [0, 1] for `answer`; `failure_value` / `garbage_value` when the judge gives none. Never raises.

        `image_base64`: the dataset's own base64 JPEG of the image (TinyRS solution[3]), which prompt "upstream"
        sends as is; without it, the decoded `image` is re-encoded."""
        with self._lock:
            self._counts["calls"] += 1
        try:
            return self._judge(question, answer, image, image_base64)
        except Exception as error:  # e.g. an unreadable lazily loaded image: a counted failure, never a crash
            self._count_failure(_describe(error), attempts=0)
            return self.config.failure_value

    def _judge(self, question: str, answer: str, image: Image.Image | None, image_base64: str | None) -> float | None:
        upstream = self.config.prompt == "upstream"
        if upstream and image_base64 is not None:
            image_hash = "b64:" + hashlib.sha256(image_base64.encode()).hexdigest()
        else:
            image_hash = image_sha256(image)
        key = _cache_key(self.config.model, self.config.prompt, question, answer, image_hash)
        with self._lock:
            if key in self._cache:
                self._counts["cached"] += 1
                return self._cache[key]

        if upstream:
            messages = upstream_messages(question, answer, image, image_base64)
        else:
            messages = grading_messages(question, answer, image)
        reply = self._request(messages)
        if reply is None:
            return self.config.failure_value
        reward = reward_from_reply_upstream(reply) if upstream else reward_from_reply(reply)
        if reward is None:
            with self._lock:
                self._counts["garbage"] += 1
                garbage = self._counts["garbage"]
            logger.warning(
                "judge reply without a score (%r), reward %s; %d such replies so far",
                reply[:80],
                self.config.garbage_value,
                garbage,
            )
            return self.config.garbage_value
        with self._lock:
            self._cache[key] = reward
            if self.config.cache_path:
                record = {"key": key, "reward": reward, "question": question, "answer": answer, "reply": reply}
                _append_cache(Path(self.config.cache_path), record)
        return reward

    def _request(self, messages: list[dict[str, Any]]) -> str | None:
        """The reply text, after up to `max_retries` retries of transient errors; None (counted, logged) on failure."""
        attempt = 0
        while True:
            try:
                sampling: dict[str, Any] = {"temperature": self.config.temperature}
                if self.config.max_tokens is not None:
                    sampling["max_tokens"] = self.config.max_tokens
                response = self._client.chat.completions.create(model=self.config.model, messages=messages, **sampling)
                choices = response.choices
                # An empty choice list or a null content is a reply without a score, not a transport failure.
                return (choices[0].message.content or "") if choices else ""
            except Exception as error:  # never fatal: the outcome is a counted failure or a counted retry
                if attempt >= self.config.max_retries or not _is_transient(error):
                    self._count_failure(_describe(error), attempts=attempt + 1)
                    return None
                with self._lock:
                    self._counts["retries"] += 1
                delay = self.config.backoff * 2**attempt
                logger.debug("judge request failed (%s); retry %d in %.2f s", _describe(error), attempt + 1, delay)
                time.sleep(delay)
                attempt += 1

    def _count_failure(self, reason: str, attempts: int) -> None:
        with self._lock:
            self._counts["failures"] += 1
            failures = self._counts["failures"]
        logger.warning(
            "judge failed after %d request(s): %s; reward %s; %d failures so far",
            attempts,
            reason,
            self.config.failure_value,
            failures,
        )


def _load_cache(path: Path) -> dict[str, float]:
    """Judgements of earlier runs. A line that does not parse (a run killed mid-write leaves a truncated last line)
    is skipped and reported with its line number: losing one cached judgement only costs one request."""
    if not path.exists():
        return {}
    cache: dict[str, float] = {}
    bad: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                cache[str(record["key"])] = float(record["reward"])
            except (ValueError, KeyError, TypeError):
                bad.append(number)
    if bad:
        logger.warning("judge cache %s: skipped %d unreadable line(s): %s", path, len(bad), bad[:10])
    return cache


def _append_cache(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    # Unbuffered append: one write() per line, so the ranks of a multi-process run sharing this file cannot
    # interleave parts of their lines.
    with open(path, "ab", buffering=0) as handle:
        handle.write(line)
