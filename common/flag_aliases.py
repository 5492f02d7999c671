"""The paper commands' older flag names, accepted as aliases of the canonical model arguments (common.model_args).

The SAMChat / TinyRS SFT commands were written for 2U1's Qwen2-VL-Finetune, whose names differ from the canonical
(TRL ModelConfig) ones for four fields (`PAPER_SFT_ALIASES`): --lora_enable, --lora_rank, --lora_namespan_exclude and
--bits 4|8|16. `translate_argv` and `translate_mapping` rewrite them, on the command line and as recipe keys, onto
the canonical names (common.cli.RecipeParser applies them; offline.plan reads recipes through them too). A source
(the command line, or one recipe) giving an alias and its canonical name with different values is an error; the
command line still overrides the recipe, whichever names each uses. Kept free of torch / TRL imports, so that
`python -m offline.plan` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

QUANT_BITS = (4, 8, 16)


@dataclass(frozen=True)
class Alias:
    """An older flag name, the canonical fields it maps onto (none: accepted, nothing to set) and how its value maps
    onto them; `origin` names the code base it comes from, `note` says what a value-free mapping means."""

    name: str
    canonical: tuple[str, ...]
    convert: Callable[[Any], dict[str, Any]]
    origin: str = "2U1"
    note: str = ""

    def describe(self) -> str:
        target = " / ".join(f"--{name}" for name in self.canonical) if self.canonical else "(nothing)"
        return f"--{self.name} -> {target}" + (f" ({self.note})" if self.note else "")


def _bits(value: Any) -> dict[str, bool]:
    if isinstance(value, bool) or value not in QUANT_BITS:
        raise ValueError(
            f"bits={value!r}: must be one of {QUANT_BITS} (2U1's flag; canonical: load_in_4bit / load_in_8bit)"
        )
    return {"load_in_4bit": value == 4, "load_in_8bit": value == 8}


def _rename(name: str, canonical: str, origin: str = "2U1") -> Alias:
    return Alias(name, (canonical,), lambda value: {canonical: value}, origin=origin)


def _flash(disabled: Any) -> dict[str, str]:
    # 2U1 loads flash_attention_2 unless disable_flash_attn2, then sdpa.
    if not isinstance(disabled, bool):
        raise ValueError(f"disable_flash_attn2={disabled!r}: must be true or false")
    return {"attn_implementation": "sdpa" if disabled else "flash_attention_2"}


def _lazy(lazy: Any) -> dict[str, Any]:
    if lazy is not True:
        raise ValueError(
            f"lazy_preprocess={lazy!r}: not implemented; records are always encoded when the trainer asks for them"
        )
    return {}


def _ratio(ratio: Any) -> dict[str, float]:
    # transformers 5 dropped warmup_ratio: warmup_steps below 1 is a fraction of the steps.
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise ValueError(f"warmup_ratio={ratio!r}: must be a fraction in [0, 1)")
    return {"warmup_steps": float(ratio)}


def _ignored_prompt_length(value: Any) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"max_prompt_length={value!r}: must be a positive integer")
    return {}


# 2U1 (Qwen2-VL-Finetune) flag -> canonical field(s): the LoRA / quantisation names, and the four flags of the SAMChat /
# TinyRS SFT commands (SPEC 3) that are not fields here. The other 2U1 flags those commands and the LoRA options use
# (freeze_vision_tower, freeze_llm, tune_merger, vision_lora, num_lora_modules, lora_alpha, lora_dropout, use_dora,
# image_min_pixels, image_max_pixels, ...) are canonical names already.
PAPER_SFT_ALIASES: dict[str, Alias] = {
    alias.name: alias
    for alias in (
        _rename("lora_enable", "use_peft"),
        _rename("lora_rank", "lora_r"),
        _rename("lora_namespan_exclude", "lora_exclude_modules"),
        Alias("bits", ("load_in_4bit", "load_in_8bit"), _bits, note="4, 8 or 16"),
        _rename("model_id", "model_name_or_path"),
        Alias("disable_flash_attn2", ("attn_implementation",), _flash, note="false: flash_attention_2, true: sdpa"),
        Alias("lazy_preprocess", (), _lazy, note="true only: records are always encoded lazily"),
        Alias("warmup_ratio", ("warmup_steps",), _ratio, note="transformers 5 reads warmup_steps < 1 as a ratio"),
    )
}

_R1 = "open-r1-multimodal (the GRPO papers' code)"
# The SAMChat / TinyRS GRPO commands' flags that are not fields here (SPEC 4); the rest are TRL's names already.
PAPER_GRPO_ALIASES: dict[str, Alias] = {
    alias.name: alias
    for alias in (
        _rename("max_pixels", "image_max_pixels", origin=_R1),
        _rename("min_pixels", "image_min_pixels", origin=_R1),
        Alias(
            "max_prompt_length",
            (),
            _ignored_prompt_length,
            origin=_R1,
            note="no effect: TRL 1.x never cuts prompts, and the papers' prompts are far shorter than their 8192",
        ),
    )
}


def aliases_help(aliases: Mapping[str, Alias]) -> str:
    """The alias table as one paragraph, for --help."""
    origins = " and ".join(dict.fromkeys(alias.origin for alias in aliases.values()))
    pairs = ", ".join(alias.describe() for alias in aliases.values())
    return f"The paper commands' {origins} flag names are accepted (command line and recipe keys) and mapped: {pairs}."


def _same(a: Any, b: Any) -> bool:
    listy = (list, tuple)
    if isinstance(a, listy) or isinstance(b, listy):
        return list(a if isinstance(a, listy) else [a]) == list(b if isinstance(b, listy) else [b])
    return a == b


def translate_mapping(values: Mapping[str, Any], aliases: Mapping[str, Alias], *, where: str) -> tuple[dict, list]:
    """(values with the aliases rewritten onto canonical names, ["alias -> canonical", ...] applied)."""
    out = {key: value for key, value in values.items() if key not in aliases}
    applied = []
    for key, value in values.items():
        alias = aliases.get(key)
        if alias is None:
            continue
        for name, converted in alias.convert(value).items():
            if name in values and not _same(values[name], converted):
                raise ValueError(
                    f"{where}: {key}={value!r} ({alias.origin}'s name) and {name}={values[name]!r} disagree; "
                    "give one of them"
                )
            out.setdefault(name, converted)
        applied.append(alias.describe().replace("--", ""))
    return out, applied


def _flag_values(argv: list[str]) -> list[tuple[int, int, str, list[str]]]:
    """(start, end, name, value tokens) of every `--name [values]` / `--name=value` in argv."""
    spans = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--") and len(token) > 2:
            name, eq, inline = token[2:].partition("=")
            name = name.replace("-", "_")  # HfArgumentParser accepts --lora-r for --lora_r; so do the aliases
            end = i + 1
            if eq:
                values = [inline]
            else:
                while end < len(argv) and not argv[end].startswith("--"):
                    end += 1
                values = argv[i + 1 : end]
            spans.append((i, end, name, values))
            i = end
        else:
            i += 1
    return spans


def _scalar(token: str) -> Any:
    try:
        return yaml.safe_load(token)
    except yaml.YAMLError:
        return token


def _value(tokens: list[str]) -> Any:
    """Command-line tokens as the value they stand for (a bare boolean flag is true; YAML scalars otherwise)."""
    if not tokens:
        return True
    values = [_scalar(token) for token in tokens]
    return values[0] if len(values) == 1 else values


def translate_argv(argv: list[str], aliases: Mapping[str, Alias]) -> tuple[list[str], list[str]]:
    """(argv with the alias flags rewritten onto canonical flags, ["alias -> canonical", ...] applied)."""
    spans = _flag_values(argv)
    used = [aliases[name] for _, _, name, _ in spans if name in aliases]
    if not used:
        return list(argv), []
    wanted = {canonical for alias in used for canonical in alias.canonical}
    given = {name: _value(values) for _, _, name, values in spans if name in wanted}
    out: list[str] = []
    applied = []
    last = 0
    for start, end, name, values in spans:
        out += argv[last:start]
        last = end
        alias = aliases.get(name)
        if alias is None:
            out += argv[start:end]
            continue
        converted = alias.convert(_value(values))
        for canonical, value in converted.items():
            if canonical in given and not _same(given[canonical], value):
                raise ValueError(
                    f"command line: --{name} {' '.join(values)} ({alias.origin}'s name) and --{canonical} "
                    f"{given[canonical]!r} disagree; give one of them"
                )
        renamed = len(converted) == 1 and tuple(converted) == alias.canonical
        if renamed and _same(converted[alias.canonical[0]], _value(values)):
            # A plain rename keeps the tokens as given (lists, quoting), for argparse to parse as before.
            out += [f"--{alias.canonical[0]}", *values]
        else:
            for canonical, value in converted.items():
                if canonical not in given:
                    out += [f"--{canonical}", str(value).lower() if isinstance(value, bool) else str(value)]
        applied.append(alias.describe())
    out += argv[last:]
    return out, applied
