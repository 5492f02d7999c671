"""What the entry points share on the command line: the recipe parser, the one-line failure rule and the Ctrl-C rule.

`RecipeParser` is `trl.TrlParser` with one gap filled. TrlParser reads `--config` itself, before argparse sees the
arguments, so `--help` never lists the flag every command uses, the usage line names the script file (`train.py`)
instead of the module users run, and a mistyped recipe path or a recipe with an unknown field surfaces as a
traceback from inside trl. Here `--config` is listed, the usage names the module, and a recipe that cannot be read
is an argparse error: usage plus one line naming the file, exit status 2. With `aliases` (common.flag_aliases:
the paper commands' names, PAPER_SFT_ALIASES / PAPER_GRPO_ALIASES), older flag names are rewritten onto the canonical ones, on the command line
and as recipe keys, listed in --help and logged once (`log_aliases`).

Its --help leads with what a user needs: the usage, how a run is launched, --config, then this project's own fields
group by group; the libraries' fields (transformers' TrainingArguments alone has 114) follow as lists of flag names,
one per library class, and `--help-all` describes every flag. Parsing is TrlParser's, unchanged.

`run_stage` turns the failures a user causes (bad data, a model that is not there, an output_dir that cannot be
written, a missing API key) into one
logged line and exit status 1; anything else is a bug and keeps its traceback; a Ctrl-C ends with one line naming
the checkpoint the same command resumes from (common.interrupt).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml
from trl import ModelConfig, TrlParser

from common.flag_aliases import Alias, aliases_help, translate_argv, translate_mapping
from common.interrupt import run_interruptible
from common.provenance import resolved_config

logger = logging.getLogger(__name__)


# The packages whose dataclass fields are this project's own; any other dataclass is a library's (transformers, TRL).
PROJECT_PACKAGES = ("common", "sft", "grpo", "eval")
# Library classes --help describes in full all the same: TRL's ModelConfig fields are this project's canonical
# model arguments (common.model_args: checkpoint, dtype, attention, LoRA, quantisation).
DESCRIBED_LIBRARY_CLASSES = (ModelConfig,)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """HfArgumentParser's formatter (defaults shown), with the description's launch lines kept as written."""


class _HelpAll(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.help_all = True
        parser.print_help()
        parser.exit()


def _owner(dtype: type) -> dict[str, type]:
    """Field name -> the dataclass that declares it first (the most basic class in the MRO that has it)."""
    owners: dict[str, type] = {}
    for cls in reversed(dtype.__mro__):
        if dataclasses.is_dataclass(cls):
            for field in dataclasses.fields(cls):
                owners.setdefault(field.name, cls)
    return owners


def _is_project(cls: type) -> bool:
    return cls.__module__.split(".")[0] in PROJECT_PACKAGES


class RecipeParser(TrlParser):
    def __init__(
        self,
        dataclass_types,
        *,
        prog: str,
        aliases: Mapping[str, Alias] | None = None,
        description: str | None = None,
        **kwargs,
    ):
        self.aliases = dict(aliases or {})
        self.help_all = False
        self.config_path: str | None = None
        self.applied_aliases: list[str] = []
        if self.aliases:
            kwargs.setdefault("epilog", aliases_help(self.aliases))
        kwargs.setdefault("formatter_class", _HelpFormatter)
        rule = "Every field below is a recipe key and a flag; a flag given on the command line overrides the recipe."
        super().__init__(
            dataclass_types,
            prog=prog,
            usage=f"{prog} --config RECIPE.yaml [--field value ...]",
            description="\n\n".join(part for part in (description, rule) if part),
            **kwargs,
        )
        self.add_argument(
            "--config",
            metavar="RECIPE.yaml",
            help="the recipe: a YAML mapping of field: value (configs/); flags given after it override its fields",
        )
        self.add_argument("--help-all", action=_HelpAll, help="describe every flag, the libraries' included, and exit")
        self.print_config = False
        self.add_argument(
            "--print-config",
            action="store_true",
            help="print the fully resolved configuration (recipe + flags + defaults, as the run would use it) as "
            "YAML and exit, without loading a model or data",
        )

    def _sections(self) -> tuple[list[tuple[str, list[argparse.Action]]], list[tuple[str, list[argparse.Action]]]]:
        """(described sections, listed sections): (title, actions). Described: --help, --help-all and --config, then
        per dataclass the fields this project declares (and DESCRIBED_LIBRARY_CLASSES'); listed: the other library
        fields, one section per library class that declares them. All in parsing order."""
        by_dest: dict[str, list[argparse.Action]] = {}
        for action in self._actions:
            by_dest.setdefault(action.dest, []).append(action)
        taken: set[str] = set()
        ours: list[tuple[str, list[argparse.Action]]] = [
            ("options", [a for a in self._actions if a.dest in ("help", "help_all", "config", "print_config")])
        ]
        libraries: dict[type, list[argparse.Action]] = {}
        for dtype in self.dataclass_types:
            own = []
            for name, cls in _owner(dtype).items():
                if name in taken or name not in by_dest:
                    continue
                taken.add(name)
                described = _is_project(cls) or cls in DESCRIBED_LIBRARY_CLASSES
                (own if described else libraries.setdefault(cls, [])).extend(by_dest[name])
            if own:
                ours.append((f"{dtype.__name__} ({dtype.__module__})", own))
        theirs = [(f"{cls.__module__.split('.')[0]} {cls.__name__}", actions) for cls, actions in libraries.items()]
        return ours, theirs

    def format_help(self) -> str:
        """argparse's help laid out as the module docstring says; after --help-all it describes every flag."""
        full = self.help_all
        formatter = self._get_formatter()
        formatter.add_usage(self.usage, self._actions, self._mutually_exclusive_groups)
        formatter.add_text(self.description)
        ours, theirs = self._sections()
        for title, actions in ours + (theirs if full else []):
            formatter.start_section(title)
            formatter.add_arguments(actions)
            formatter.end_section()
        output = formatter.format_help()
        width = max(shutil.get_terminal_size().columns - 2, 40)
        paragraphs = []
        if not full:
            paragraphs.append(f"Library flags, all accepted (`{self.prog} --help-all` describes them):")
            paragraphs += [_flag_list(title, actions, width) for title, actions in theirs]
        if self.epilog:
            paragraphs.append(textwrap.fill(self.epilog, width))
        return output + "\n" + "\n\n".join(paragraphs) + "\n"

    def parse_args_and_config(self, args=None, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        path = None
        if "--config" in args:
            where = args.index("--config")
            if where + 1 >= len(args) or args[where + 1].startswith("--"):
                self.error("--config needs the path of a recipe YAML")
            path = args[where + 1]
            if not os.path.isfile(path):
                self.error(f"--config {path}: no such recipe file (the recipes are in configs/)")
        self.config_path = path
        self.applied_aliases = []
        try:
            args, applied = translate_argv(args, self.aliases)
        except ValueError as error:
            self.error(str(error))
        try:
            outputs = super().parse_args_and_config(args, **kwargs)
        except yaml.YAMLError as error:
            self.error(f"--config {path}: not valid YAML: {error}")
        except ValueError as error:  # unknown fields in the recipe, invalid field combinations (__post_init__)
            self.error(str(error))
        # The `--config` argument above exists for --help only; TrlParser consumed the flag before parsing, so the
        # namespace that holds it is always empty.
        self.applied_aliases += applied
        rest = [output for output in outputs if isinstance(output, argparse.Namespace)]
        self.print_config = any(getattr(namespace, "print_config", False) for namespace in rest)
        return tuple(output for output in outputs if not isinstance(output, argparse.Namespace))

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        # TrlParser hands the recipe's mapping here: its 2U1 keys become canonical ones before they become defaults.
        kwargs, applied = translate_mapping(kwargs, self.aliases, where=f"--config {self.config_path}")
        self.applied_aliases += applied
        return super().set_defaults_with_config(**kwargs)

    def log_aliases(self) -> None:
        """Log, once, which older flag names the last parse mapped (call after logging is set up)."""
        if self.applied_aliases:
            logger.info("paper flag names mapped onto canonical ones: %s", ", ".join(self.applied_aliases))


def config_yaml(groups: Mapping[str, object]) -> str:
    """What --print-config prints: every field of every argument group, as the run record stores it."""
    return yaml.safe_dump(resolved_config(groups), sort_keys=False)


def launch_forms(doc: str) -> str:
    """The first block of indented lines in an entry point's docstring (its launch commands), for --help."""
    lines: list[str] = []
    for line in doc.splitlines():
        if line.startswith("    ") and line.strip():
            lines.append(line)
        elif lines:
            break
    return "Launch:\n" + "\n".join(lines) if lines else ""


def _flag_list(title: str, actions: Iterable[argparse.Action], width: int) -> str:
    flags = [action.option_strings[0] for action in actions if action.option_strings]
    return textwrap.fill(f"{title} ({len(flags)}): {', '.join(flags)}", width, subsequent_indent="  ")


def check_choice(name: str, value: object, choices: tuple) -> None:
    """A recipe field with a fixed set of values (checked in the stages' __post_init__): ValueError naming the
    field, its choices and the value, which RecipeParser turns into a one-line argparse error."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def run_stage(
    train: Callable[[], str],
    *,
    user_errors: tuple[type[BaseException], ...] = (),
    training_args: Any = None,
    command: str = "the same command",
) -> int:
    """Run a stage's `train()`; a failure of the user's input is one line and exit status 1, a Ctrl-C one line
    naming the checkpoint the same `command` resumes from (common.training.resume_hint, from `training_args`) and
    status 130."""
    from common.training import resume_hint

    def next_run() -> str:
        return resume_hint(training_args) if training_args is not None else "run it again to resume"

    return run_interruptible(lambda: _train_or_explain(train, user_errors), command=command, next_run=next_run)


def _train_or_explain(train: Callable[[], str], user_errors: tuple[type[BaseException], ...]) -> int:
    from common.data import DataError
    from common.modeling import ModelSourceError
    from common.training import TrainingSetupError

    try:
        output = train()
    except DataError as error:
        logger.error("bad training data: %s", error)
        return 1
    except (ModelSourceError, TrainingSetupError, *user_errors) as error:
        logger.error("%s", error)
        return 1
    logger.info("saved model and processor to %s", output)
    return 0
