"""Registry of evaluation tasks: key -> declarative `Task` record (see `eval.tasks.base`).

Families and their `--tasks` names: `samdata` (SAMData-300-Test, SPEC 6.1); `scorers`, also `all` as upstream's
`--task all` called it (the 12 ScoreRS tasks in SPEC 2.6 order); `geovlm` (the GeoVLM-R1 JSONL tasks, SPEC 6.3); `earthdial` (EarthDial-Bench on its arrow shards, the protocol
GeoVLM-R1 reports on: EARTHDIAL.md, `eval.tasks.earthdial`).
Any single key, or a comma-separated list of keys and family names, also works.
"""

from __future__ import annotations

from .base import BOX_FRAMES, PROMPT_STYLES, PROTOCOLS, PromptOptions, Row, ScoreOptions, Task
from .earthdial import TASKS as _EARTHDIAL
from .geovlm import TASKS as _GEOVLM
from .samdata import TASKS as _SAMDATA
from .scorers import TASKS as _SCORERS

TASKS: dict[str, Task] = {**_SAMDATA, **_SCORERS, **_GEOVLM, **_EARTHDIAL}
FAMILIES: dict[str, tuple[str, ...]] = {
    "samdata": tuple(_SAMDATA),
    "scorers": tuple(_SCORERS),
    "all": tuple(_SCORERS),
    "geovlm": tuple(_GEOVLM),
    "earthdial": tuple(_EARTHDIAL),
}


def resolve_tasks(spec: str) -> list[Task]:
    """`samdata`, `scorers`, `all`, `geovlm`, `earthdial`, a task key, or a comma-separated mix -> tasks in order, no repeats."""
    keys: list[str] = []
    for name in (part.strip() for part in spec.split(",")):
        if not name:
            continue
        if name in FAMILIES:
            keys += FAMILIES[name]
        elif name in TASKS:
            keys.append(name)
        else:
            raise ValueError(f"unknown task {name!r}; expected one of {', '.join([*FAMILIES, *TASKS])}")
    if not keys:
        raise ValueError("no task given")
    families = {TASKS[key].family for key in keys}
    if len(families) > 1:
        # One --data-root cannot serve two families: it is an image folder for samdata, an annotation folder else.
        raise ValueError(f"tasks of different families ({', '.join(sorted(families))}) need separate runs")
    return [TASKS[key] for key in dict.fromkeys(keys)]


__all__ = [
    "BOX_FRAMES",
    "FAMILIES",
    "PROMPT_STYLES",
    "PROTOCOLS",
    "TASKS",
    "PromptOptions",
    "Row",
    "ScoreOptions",
    "Task",
    "resolve_tasks",
]
