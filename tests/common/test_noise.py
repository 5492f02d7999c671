"""common.noise: each known piece of library noise is gone once the entry points' filters are on, and a warning or
log record that merely resembles it still shows. The noise is produced by the libraries' own code wherever it is
cheap to reach, so a library that changes its wording fails here instead of leaking the noise again."""

import inspect
import logging
import re
import warnings

import deepspeed.accelerator.real_accelerator
import pytest
import transformers
from packaging.version import Version
from transformers import AutoModelForImageTextToText, TrainingArguments

from common.noise import LOG_RECORDS, quiet_known_noise

# Both checkpointing deprecations come with transformers 5.24 (constraints.txt); the GPU lock's 5.17
# (constraints-gpu.txt, whose fast suite CI also runs) emits neither, and the filters must then hide nothing else.
DEPRECATES_CHECKPOINTING = Version(transformers.__version__) >= Version("5.24")


def _caught(produce, *, quiet: bool) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning, as often as it is raised
        if quiet:
            quiet_known_noise()
        produce()
        warnings.warn("an unrelated deprecation", FutureWarning, stacklevel=1)
    return [str(warning.message) for warning in caught]


def test_is_gradient_checkpointing_once_per_grpo_step(tiny_model_dir):
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)

    def produce():
        assert model.is_gradient_checkpointing is False  # what TRL 1.16 reads before every generation

    noisy = _caught(produce, quiet=False)
    if DEPRECATES_CHECKPOINTING:
        assert noisy[0].startswith("`is_gradient_checkpointing` is deprecated") and len(noisy) == 2
    else:
        assert noisy == ["an unrelated deprecation"]
    assert _caught(produce, quiet=True) == ["an unrelated deprecation"]


def test_gradient_checkpointing_field_of_every_recipe(tmp_path):
    def produce():
        TrainingArguments(str(tmp_path), gradient_checkpointing=False, use_cpu=True, report_to=[])

    noisy = _caught(produce, quiet=False)
    if DEPRECATES_CHECKPOINTING:
        assert noisy[0].startswith("`gradient_checkpointing` is deprecated")
    else:
        assert noisy == ["an unrelated deprecation"]
    assert _caught(produce, quiet=True) == ["an unrelated deprecation"]


def test_a_transformers_warning_that_is_not_known_still_shows():
    def produce():
        warnings.warn_explicit("`other_field` is deprecated", FutureWarning, "training_args.py", 1,
                               module="transformers.training_args")  # fmt: skip

    assert _caught(produce, quiet=True) == ["`other_field` is deprecated", "an unrelated deprecation"]


@pytest.fixture
def deepspeed_records():
    logger = logging.getLogger("DeepSpeed")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    yield logger, records
    logger.removeHandler(handler)
    logger.filters = [f for f in logger.filters if type(f).__module__ != "common.noise"]


def test_deepspeed_setting_accelerator_to_cpu(deepspeed_records):
    (known,) = LOG_RECORDS
    source = inspect.getsource(deepspeed.accelerator.real_accelerator)
    message = next(m for m in re.findall(r'"(Setting accelerator to CPU[^"]*)"', source))  # DeepSpeed's own text
    assert re.match(known.message, message)
    logger, records = deepspeed_records
    quiet_known_noise()
    quiet_known_noise()  # entry points may call it twice (grpo.stages -> grpo.train): one filter
    assert len(logger.filters) == 1
    logger.warning(message)
    logger.warning("Setting accelerator to XPU")
    assert records == ["Setting accelerator to XPU"]
