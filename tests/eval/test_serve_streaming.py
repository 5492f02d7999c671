"""The web demo with the real Qwen2 vocabulary, where `<reasoning>` and `<answer>` are several tokens each: no tag
fragment reaches a pane while streaming; and the server removes its example folder when it is terminated."""

import signal

import pytest

from eval.serve_core import NO_REASONING, hold_back_partial_tag, split_reply
from offline.qwen_tokenizer import load_qwen2_tokenizer
from tests.serve_process import start_serve

REPLY = "<reasoning>Two ring roads and a launch pad.</reasoning><answer>A missile site.</answer>"
FRAGMENTS = ("<", "<r", "<reason", "</", "</reason", "<answer", "</answer", "<ans")


def streamed_prefixes(tokenizer, text):
    """The texts a TextIteratorStreamer hands over as the reply's tokens arrive one by one."""
    ids = tokenizer(text).input_ids
    return [tokenizer.decode(ids[: i + 1]) for i in range(len(ids))]


def test_no_tag_fragment_while_streaming(qwen2_tokenizer_dir):
    tokenizer = load_qwen2_tokenizer()
    prefixes = streamed_prefixes(tokenizer, REPLY)
    assert len(prefixes) == len(tokenizer(REPLY).input_ids) > 20
    assert "<reason" in prefixes and "<reasoning>Two ring roads and a launch pad.</reasoning><answer" in prefixes
    shown = [split_reply(prefix, streaming=True) for prefix in prefixes]
    for reasoning, answer in shown:
        for pane in (reasoning, answer):
            assert not pane.endswith(FRAGMENTS), (reasoning, answer)
            assert "<" not in pane or pane == NO_REASONING
    assert shown[-1] == ("Two ring roads and a launch pad.", "A missile site.")
    assert split_reply(prefixes[-1]) == shown[-1]  # the final (non-streaming) split agrees


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("<", ""),  # the first token of every tag
        ("<reasoning>a pad</reas", "<reasoning>a pad"),  # closing tag under way
        ("<reasoning>a</reasoning><answer>yes</", "<reasoning>a</reasoning><answer>yes"),
        ("<reasoning>", "<reasoning>"),  # a complete tag is kept
        ("3 < 4", "3 < 4"),  # a '<' followed by a space is no tag
        ("<b>bold", "<b>bold"),  # another markup tag is text
    ],
)
def test_hold_back_partial_tag(text, held):
    assert hold_back_partial_tag(text) == held


@pytest.mark.slow
def test_sigterm_removes_the_example_folder(tiny_model_dir, repo_root, tmp_path):
    # issue 16: SIGTERM left /tmp/rs_r1_serve_* behind (tempfile's `with` never ran). ~20 s: imports, model, Gradio.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process, _ = start_serve(tiny_model_dir, repo_root, scratch, ready_within=120)
    try:
        assert len(list(scratch.glob("rs_r1_serve_*"))) == 1  # the examples are there while it serves
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert list(scratch.glob("rs_r1_serve_*")) == []
