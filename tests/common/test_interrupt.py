"""common.interrupt: a Ctrl-C ends an entry point with one line saying what the same command does next, status 130."""

import logging

import pytest

from common.interrupt import INTERRUPTED, command_line, run_interruptible


def test_ctrl_c_is_one_line_and_status_130(caplog):
    def body() -> int:
        raise KeyboardInterrupt

    with caplog.at_level(logging.WARNING):
        status = run_interruptible(body, command="python -m x.y --a 1", next_run=lambda: "the same command resumes")
    assert status == INTERRUPTED == 130
    assert [r.getMessage() for r in caplog.records] == [
        "interrupted (Ctrl-C); the same command resumes: python -m x.y --a 1"
    ]


def test_a_run_that_ends_keeps_its_status_and_says_nothing(caplog):
    assert run_interruptible(lambda: 1, command="c", next_run=lambda: pytest.fail("asked without an interrupt")) == 1
    assert caplog.records == []


def test_other_errors_keep_their_traceback():
    def body() -> int:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_interruptible(body, command="c", next_run=lambda: "n")


def test_command_line_quotes_what_the_shell_would_split():
    assert command_line("python -m sft.train", ["--config", "my recipe.yaml"]) == (
        "python -m sft.train --config 'my recipe.yaml'"
    )
    assert command_line("python -m sft.train", []) == "python -m sft.train"
