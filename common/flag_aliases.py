"""The paper commands' older flag names, accepted as aliases of the canonical model arguments (common.model_args).

The SAMChat / TinyRS SFT commands were written for 2U1's Qwen2-VL-Finetune, whose names differ from the canonical
(TRL ModelConfig) ones for four fields (`PAPER_SFT_ALIASES`): --lora_enable, --lora_rank, --lora_namespan_exclude and
--bits 4|8|16. `translate_argv` and `translate_mapping` rewrite them, on the command line and as recipe keys, onto
the canonical names (common.cli.RecipeParser applies them; common.plan reads recipes through them too). A source
(the command line, or one recipe) giving an alias and its canonical name with different values is an error; the
command line still overrides the recipe, whichever names each uses. Kept free of torch / TRL imports, so that
`python -m common.plan` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

QUANT_BITS = (4, 8, 16)


@dataclass(frozen=True)
class Alias:
    """An older flag name and how its value maps onto canonical fields."""

    name: str
    canonical: tuple[str, ...]
    convert: Callable[[Any], dict[str, Any]]


def _bits(value: Any) -> dict[str, bool]:
    if isinstance(value, bool) or value not in QUANT_BITS:
        raise ValueError(
            f"bits={value!r}: must be one of {QUANT_BITS} (2U1's flag; canonical: load_in_4bit / load_in_8bit)"
        )
    return {"load_in_4bit": value == 4, "load_in_8bit": value == 8}


def _rename(name: str, canonical: str) -> Alias:
    return Alias(name, (canonical,), lambda value: {canonical: value})


# 2U1 (Qwen2-VL-Finetune) flag -> canonical field(s). The other 2U1 model flags the SFT recipes use
# (freeze_vision_tower, freeze_llm, tune_merger, vision_lora, num_lora_modules, lora_alpha, lora_dropout, use_dora)
# are canonical names already.
PAPER_SFT_ALIASES: dict[str, Alias] = {
    alias.name: alias
    for alias in (
        _rename("lora_enable", "use_peft"),
        _rename("lora_rank", "lora_r"),
        _rename("lora_namespan_exclude", "lora_exclude_modules"),
        Alias("bits", ("load_in_4bit", "load_in_8bit"), _bits),
    )
}


def aliases_help(aliases: Mapping[str, Alias]) -> str:
    """The alias table as one line, for --help."""
    pairs = ", ".join(
        f"--{a.name} -> --{' / --'.join(a.canonical)}" + (" (4, 8 or 16)" if a.name == "bits" else "")
        for a in aliases.values()
    )
    return f"The paper commands' 2U1 flag names are accepted (command line and recipe keys) and mapped: {pairs}."


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
                    f"{where}: {key}={value!r} (2U1's name) and {name}={values[name]!r} disagree; give one of them"
                )
            out.setdefault(name, converted)
        applied.append(f"{key} -> {' / '.join(alias.canonical)}")
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


def _value(tokens: list[str]) -> Any:
    """Command-line tokens as the value they stand for (a bare boolean flag is true; YAML scalars otherwise)."""
    if not tokens:
        return True
    values = [yaml.safe_load(token) for token in tokens]
    return values[0] if len(values) == 1 else values


def translate_argv(argv: list[str], aliases: Mapping[str, Alias]) -> tuple[list[str], list[str]]:
    """(argv with the alias flags rewritten onto canonical flags, ["alias -> canonical", ...] applied)."""
    spans = _flag_values(argv)
    given = {name: _value(values) for _, _, name, values in spans if name not in aliases}
    if not any(name in aliases for _, _, name, _ in spans):
        return list(argv), []
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
                    f"command line: --{name} {' '.join(values)} (2U1's name) and --{canonical} "
                    f"{given[canonical]!r} disagree; give one of them"
                )
        if len(converted) == 1 and alias.canonical == tuple(converted):
            out += [f"--{alias.canonical[0]}", *values] if values else [f"--{alias.canonical[0]}"]
        else:
            for canonical, value in converted.items():
                if canonical not in given:
                    out += [f"--{canonical}", str(value).lower() if isinstance(value, bool) else str(value)]
        applied.append(f"--{name} -> --{' / --'.join(alias.canonical)}")
    out += argv[last:]
    return out, applied
