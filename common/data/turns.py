"""Conversation turns: roles, their order, and the `<image>` / `<video>` placeholders (the package docstring says
the rules)."""

from __future__ import annotations

from typing import Any

from .jsonio import json_type
from .records import Turn

IMAGE_TOKEN = "<image>"
VIDEO_TOKEN = "<video>"

# LLaVA data spells roles human/gpt; some upstream files use the chat spellings.
ROLE_MAP = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def check_roles(turns: list[Turn], raw_roles: list[str], errors: list[str], *, last: str) -> None:
    """Optional leading system turn, then user/assistant alternating from user, ending with `last`."""
    start = 1 if turns and turns[0].role == "system" else 0
    for position in range(start, len(turns)):
        expected = "user" if (position - start) % 2 == 0 else "assistant"
        if turns[position].role != expected:
            article = "an" if expected == "assistant" else "a"
            errors.append(f"turn {position}: expected {article} {expected} turn, got {raw_roles[position]!r}")
            return
    if len(turns) == start:
        errors.append("no user turn")
    elif turns[-1].role != last:
        errors.append(
            "conversation ends with a user turn (no assistant reply)"
            if last == "assistant"
            else "prompt ends with an assistant turn (expected a user turn last)"
        )


def parse_conversations(value: Any, errors: list[str]) -> list[Turn]:
    """LLaVA `conversations` (`from` / `value`) -> turns, with role and alternation checks."""
    if value is None:
        errors.append("missing 'conversations'")
        return []
    if not isinstance(value, list):
        errors.append(f"'conversations' must be an array, got {json_type(value)}")
        return []
    if not value:
        errors.append("'conversations' is empty")
        return []
    turns: list[Turn] = []
    raw_roles: list[str] = []
    ok = True
    for position, turn in enumerate(value):
        if not isinstance(turn, dict):
            errors.append(f"turn {position}: expected an object, got {json_type(turn)}")
            ok = False
            continue
        raw_role, content = turn.get("from"), turn.get("value")
        if raw_role not in ROLE_MAP:
            errors.append(f"turn {position}: unknown role {raw_role!r} (expected human/gpt)")
            ok = False
        if not isinstance(content, str):
            errors.append(f"turn {position}: 'value' must be a string, got {json_type(content)}")
            ok = False
        elif not content.strip():
            errors.append(f"turn {position}: empty {ROLE_MAP.get(raw_role, 'turn')} text")
            ok = False
        if ok:
            turns.append(Turn(ROLE_MAP[raw_role], content))
            raw_roles.append(raw_role)
    if not ok:
        return []
    check_roles(turns, raw_roles, errors, last="assistant")
    return turns


def check_placeholders(turns: list[Turn], n_images: int, n_videos: int, errors: list[str]) -> None:
    for token, count, noun in ((IMAGE_TOKEN, n_images, "image"), (VIDEO_TOKEN, n_videos, "video")):
        for position, turn in enumerate(turns):
            if turn.role != "user" and token in turn.content:
                errors.append(f"turn {position}: {token} placeholder outside a user turn ({turn.role})")
        placeholders = sum(turn.content.count(token) for turn in turns if turn.role == "user")
        if placeholders != count:
            errors.append(f"{count} {noun}(s) but {placeholders} {token} placeholder(s)")
