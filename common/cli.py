"""What the training entry points share on the command line: the recipe parser and the one-line failure rule.

`RecipeParser` is `trl.TrlParser` with one gap filled. TrlParser reads `--config` itself, before argparse sees the
arguments, so `--help` never lists the flag every command uses, the usage line names the script file (`train.py`)
instead of the module users run, and a mistyped recipe path or a recipe with an unknown field surfaces as a
traceback from inside trl. Here `--config` is listed, the usage names the module, and a recipe that cannot be read
is an argparse error: usage plus one line naming the file, exit status 2. With `aliases` (common.flag_aliases:
the paper commands' names, PAPER_SFT_ALIASES / PAPER_GRPO_ALIASES), older flag names are rewritten onto the canonical ones, on the command line
and as recipe keys, listed in --help and logged once (`log_aliases`).

`run_stage` turns the failures a user causes (bad data, a model that is not there, an output_dir that cannot be
written, a missing API key) into one
logged line and exit status 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping

import yaml
from trl import TrlParser

from common.flag_aliases import Alias, aliases_help, translate_argv, translate_mapping
from common.provenance import resolved_config

logger = logging.getLogger(__name__)


class RecipeParser(TrlParser):
    def __init__(self, dataclass_types, *, prog: str, aliases: Mapping[str, Alias] | None = None, **kwargs):
        self.aliases = dict(aliases or {})
        self.config_path: str | None = None
        self.applied_aliases: list[str] = []
        if self.aliases:
            kwargs.setdefault("epilog", aliases_help(self.aliases))
        super().__init__(dataclass_types, prog=prog, usage=f"{prog} --config RECIPE.yaml [--field value ...]", **kwargs)
        self.add_argument(
            "--config",
            metavar="RECIPE.yaml",
            help="the recipe: a YAML mapping of field: value (configs/); flags given after it override its fields",
        )
        self.print_config = False
        self.add_argument(
            "--print-config",
            action="store_true",
            help="print the fully resolved configuration (recipe + flags + defaults, as the run would use it) as "
            "YAML and exit, without loading a model or data",
        )

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


def run_stage(train: Callable[[], str], *, user_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run a stage's `train()`; a failure of the user's input is one line and exit status 1."""
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
