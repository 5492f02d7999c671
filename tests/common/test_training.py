"""common.training: which checkpoint a rerun resumes from (the newest complete one), and the output_dir check that
runs before any model loads. Checkpoints here are real: a stock transformers.Trainer saves them for a one-layer
model in about a second, and a partial one is a copy of a complete one with files deleted or cut short, as a kill
during the save leaves it."""

import logging
import os
import shutil
import tempfile

import pytest
import torch
from transformers import PretrainedConfig, PreTrainedModel, Trainer, TrainingArguments

from common.training import (
    TrainingSetupError,
    check_output_dir,
    checkpoint_problems,
    prepare_run,
    resume_checkpoint,
    resume_hint,
    train_and_save,
)


class _Config(PretrainedConfig):
    model_type = "rs_r1_test_linear"


class _Linear(PreTrainedModel):
    config_class = _Config

    def __init__(self, config):
        super().__init__(config)
        self.linear = torch.nn.Linear(4, 1)
        self.post_init()

    def forward(self, x, y):
        return {"loss": ((self.linear(x).squeeze(-1) - y) ** 2).mean()}


def _data():
    generator = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(4, generator=generator), "y": torch.randn((), generator=generator)} for _ in range(16)]


def _args(output_dir, **extra):
    return TrainingArguments(
        str(output_dir), max_steps=4, save_steps=2, per_device_train_batch_size=2, learning_rate=0.1,
        report_to=[], use_cpu=True, disable_tqdm=True, seed=0, **extra,
    )  # fmt: skip


def _train(output_dir) -> dict[str, torch.Tensor]:
    """Trains 4 steps (checkpoints at 2 and 4) through common.training, resuming as a rerun would; final weights."""
    torch.manual_seed(0)
    trainer = Trainer(model=_Linear(_Config()), args=_args(output_dir), train_dataset=_data())
    train_and_save(trainer, trainer.args, end=False)
    return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("complete")
    return out, _train(out)


def _cut_short(path):
    path.write_bytes(path.read_bytes()[:-8])  # the last bytes never reached the disk


def _interrupted(complete_run, tmp_path, damage):
    """output_dir of a run killed while saving checkpoint-4: checkpoint-2 whole, checkpoint-4 damaged."""
    source, _ = complete_run
    out = tmp_path / "out"
    for name in ("checkpoint-2", "checkpoint-4"):
        shutil.copytree(source / name, out / name)
    damage(out / "checkpoint-4")
    return out


def _delete(*names):
    return lambda folder: [(folder / name).unlink() for name in names]


def _cut(name):
    return lambda folder: _cut_short(folder / name)


def _only_config(folder):
    for path in folder.iterdir():
        if path.name != "config.json":
            path.unlink()


# (case id, damage done to a copy of the complete checkpoint-4, the problem the rule names)
DAMAGE = [
    (
        "no-trainer-state",
        _delete("trainer_state.json"),
        "no trainer_state.json (written last: the save did not finish)",
    ),
    ("trainer-state-cut", _cut("trainer_state.json"), "trainer_state.json unreadable"),  # cut while being written
    ("no-weights", _delete("model.safetensors"), "no model weights"),  # killed before the weights
    ("weights-cut", _cut("model.safetensors"), "model.safetensors cut short"),  # killed while writing them
    ("no-config", _delete("config.json"), "no config.json beside the model weights"),
    ("no-optimizer", _delete("optimizer.pt"), "no optimizer.pt"),
    ("optimizer-cut", _cut("optimizer.pt"), "optimizer.pt cut short or unreadable"),  # torch's zip directory lost
    ("no-scheduler", _delete("scheduler.pt"), "no scheduler.pt"),
    ("no-rng-state", _delete("rng_state.pth"), "no rng_state*.pth"),
    # the case, "Can't find a valid checkpoint" on every rerun: killed while ZeRO-3 gathered the weights
    ("config-only", _only_config, "no trainer_state.json"),
]


@pytest.mark.parametrize(("damage", "problem"), [c[1:] for c in DAMAGE], ids=[c[0] for c in DAMAGE])
def test_an_incomplete_newest_checkpoint_is_passed_over(complete_run, tmp_path, caplog, damage, problem):
    out = _interrupted(complete_run, tmp_path, damage)
    assert any(p.startswith(problem) for p in checkpoint_problems(out / "checkpoint-4", _args(out)))
    with caplog.at_level(logging.INFO, logger="common.training"):
        assert resume_checkpoint(_args(out)) == str(out / "checkpoint-2")
    assert f"skipping {out / 'checkpoint-4'}, an incomplete checkpoint" in caplog.text
    assert (out / "checkpoint-4").is_dir()  # left for inspection; the run writes step 4 again


def test_a_complete_checkpoint_has_no_problems_and_is_chosen(complete_run, tmp_path):
    out = _interrupted(complete_run, tmp_path, lambda folder: None)
    assert checkpoint_problems(out / "checkpoint-4", _args(out)) == []
    assert resume_checkpoint(_args(out)) == str(out / "checkpoint-4")


def test_save_only_model_checkpoints_need_no_optimizer(complete_run, tmp_path):
    out = _interrupted(complete_run, tmp_path, _delete("optimizer.pt", "scheduler.pt", "rng_state.pth"))
    assert checkpoint_problems(out / "checkpoint-4", _args(out, save_only_model=True)) == []


def test_no_complete_checkpoint_starts_afresh(complete_run, tmp_path):
    out = _interrupted(complete_run, tmp_path, _delete("trainer_state.json"))
    (out / "checkpoint-2" / "trainer_state.json").unlink()
    assert resume_checkpoint(_args(out)) is None


def test_an_explicit_incomplete_checkpoint_is_refused_before_anything_loads(complete_run, tmp_path):
    out = _interrupted(complete_run, tmp_path, _delete("model.safetensors"))
    args = _args(out, resume_from_checkpoint=str(out / "checkpoint-4"))
    with pytest.raises(TrainingSetupError, match=r"^--resume_from_checkpoint .*checkpoint-4 is incomplete: no model"):
        prepare_run(args)


def test_rerun_after_a_kill_during_save_ends_with_the_uninterrupted_weights(complete_run, tmp_path):
    # Before the rule: ValueError "Can't find a valid checkpoint at .../checkpoint-4" on this and every rerun.
    out = _interrupted(complete_run, tmp_path, _only_config)
    _, expected = complete_run
    resumed = _train(out)
    assert max((resumed[name] - expected[name]).abs().max().item() for name in expected) == 0.0
    assert checkpoint_problems(out / "checkpoint-4", _args(out)) == []  # written again when step 4 came round


# ---------------------------------------------------------------------------------------------------------------
# output_dir


def test_resume_hint_names_the_checkpoint_a_rerun_resumes_from_and_logs_nothing(complete_run, tmp_path, caplog):
    out = _interrupted(complete_run, tmp_path, _delete("trainer_state.json"))
    with caplog.at_level(logging.INFO, logger="common.training"):
        assert resume_hint(_args(out)) == f"the same command resumes from {out / 'checkpoint-2'}"
    assert caplog.records == []  # resume_checkpoint says it when the rerun happens


def test_resume_hint_with_an_explicit_checkpoint_names_both(complete_run, tmp_path):
    out = _interrupted(complete_run, tmp_path, lambda folder: None)
    args = _args(out, resume_from_checkpoint=str(out / "checkpoint-2"))
    assert resume_hint(args) == (
        f"the same command resumes from {out / 'checkpoint-2'} again; "
        f"without --resume_from_checkpoint, from {out / 'checkpoint-4'}"
    )


def test_resume_hint_before_the_first_checkpoint(tmp_path):
    assert resume_hint(_args(tmp_path / "new")) == (
        f"no complete checkpoint in {tmp_path / 'new'} yet: the same command starts over"
    )


def test_output_dir_that_is_a_file(tmp_path):
    path = tmp_path / "out"
    path.write_text("x")
    with pytest.raises(TrainingSetupError, match=rf"^output_dir {path} is a file, not a folder$"):
        check_output_dir(path)


def test_output_dir_under_a_regular_file(tmp_path):
    # The parent is a file: mkdir fails with ENOTDIR whoever runs it (tests run as root, which no mode bit stops).
    parent = tmp_path / "file"
    parent.write_text("x")
    with pytest.raises(TrainingSetupError, match=rf"^output_dir {parent}/out/x cannot be created: {parent} is a file"):
        check_output_dir(parent / "out" / "x")


def _as_unprivileged(function, *args) -> str:
    """`function(*args)`'s TrainingSetupError message ("" if none). As root (CI containers, this machine) the check
    runs in a forked child that drops to uid/gid 65534 (nobody), since root writes through any mode bits."""
    if os.geteuid() != 0:
        try:
            function(*args)
        except TrainingSetupError as error:
            return str(error)
        return ""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery, report through the pipe and leave at once
        message = ""
        try:
            os.setgid(65534)
            os.setuid(65534)
            function(*args)
        except TrainingSetupError as error:
            message = str(error)
        except BaseException as error:  # noqa: BLE001 - anything else must reach the parent as a failure
            message = f"unexpected {error!r}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return message


@pytest.fixture
def shared_dir():
    # tmp_path is private to root (mode 0700): nobody could not even look inside, so use a folder it can enter.
    path = tempfile.mkdtemp(prefix="rs_r1_w12_")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def test_read_only_output_dir(shared_dir):
    out = os.path.join(shared_dir, "out")
    os.mkdir(out, 0o555)
    os.chmod(out, 0o555)
    assert _as_unprivileged(check_output_dir, out) == f"output_dir {out} is not writable (Permission denied)"


def test_output_dir_in_a_parent_that_is_not_writable(shared_dir):
    parent = os.path.join(shared_dir, "parent")
    os.mkdir(parent)
    os.chmod(parent, 0o555)
    out = os.path.join(parent, "out")
    message = _as_unprivileged(check_output_dir, out)
    assert message == f"output_dir {out} cannot be created in {parent} (Permission denied)"


def test_a_writable_output_dir_is_created_and_left_empty(tmp_path):
    check_output_dir(tmp_path / "new" / "out")
    assert list((tmp_path / "new" / "out").iterdir()) == []


@pytest.fixture
def own_log_levels():
    """The entry points set this project's loggers to INFO (setup_logging); later tests expect the defaults."""
    names = ("common", "sft", "grpo", "__main__")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_entry_points_refuse_a_bad_output_dir_in_one_line_before_the_model_loads(
    repo_root, tmp_path, caplog, own_log_levels, stage
):
    # The model path does not exist: reaching the model (or the data) would fail differently, with a traceback.
    from grpo.train import main as grpo_main
    from sft.train import main as sft_main

    parent = tmp_path / "file"
    parent.write_text("x")
    argv = ["--config", str(repo_root / f"configs/{stage}/demo.yaml"), "--model_name_or_path", str(tmp_path / "none"),
            "--output_dir", str(parent / "out"), "--report_to", "none"]  # fmt: skip
    with caplog.at_level(logging.ERROR):
        assert (sft_main if stage == "sft" else grpo_main)(argv) == 1
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [f"output_dir {parent}/out cannot be created: {parent} is a file, not a folder"]


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_entry_points_end_a_ctrl_c_with_one_line_and_status_130(
    repo_root, tmp_path, caplog, own_log_levels, monkeypatch, stage
):
    import importlib

    module = importlib.import_module(f"{stage}.train")

    def pressed_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "train", pressed_ctrl_c)
    out = tmp_path / "out"
    argv = ["--config", f"configs/{stage}/demo.yaml", "--output_dir", str(out), "--report_to", "none"]
    assert module.main(argv) == 130
    assert [r.getMessage() for r in caplog.records if r.name == "common.interrupt"] == [
        f"interrupted (Ctrl-C); no complete checkpoint in {out} yet: the same command starts over: "
        f"python -m {stage}.train {' '.join(argv)}"
    ]
