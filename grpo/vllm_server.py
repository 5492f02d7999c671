"""GRPO's vLLM server mode (`--use_vllm true --vllm_mode server`) when the server is not there: one line, not a
traceback.

TRL's client (trl.generation.vllm_client.VLLMClient) polls `/health` for vllm_server_timeout seconds at start, then
raises a ConnectionError with a long traceback; once training runs, each request retries a refused connection five
times with exponential backoff (about a minute) before raising. Either way the run stops; `vllm_server_errors` turns
that into one line naming the server, what to start, and where the same command resumes from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from common.training import TrainingSetupError, resume_hint


class VLLMServerError(TrainingSetupError):
    """The vLLM server of server mode unreachable at start or lost mid-run; `str(e)` is one line. A
    TrainingSetupError, so grpo.train and grpo.stages end with that line and status 1."""


def server_url(training_args: Any) -> str:
    return training_args.vllm_server_base_url or (
        f"http://{training_args.vllm_server_host}:{training_args.vllm_server_port}"
    )


@contextmanager
def vllm_server_errors(training_args: Any, phase: str) -> Iterator[None]:
    """Inside, a failed connection to the server becomes VLLMServerError. `phase`: "start" (the trainer connects)
    or "training" (generation requests)."""
    if not (training_args.use_vllm and training_args.vllm_mode == "server"):
        yield
        return
    try:
        yield
    except requests.exceptions.ConnectionError as exc:
        if phase == "start":
            what = f"did not answer within vllm_server_timeout {training_args.vllm_server_timeout:g} s"
        else:
            what = "stopped answering during training"
        raise VLLMServerError(
            f"the vLLM server at {server_url(training_args)} {what} ({type(exc).__name__}); start it "
            "(`trl vllm-serve --model MODEL`, or VLLM_GPUS=N with scripts/slurm/grpo.sbatch) and run the same "
            f"command again: {resume_hint(training_args)}"
        ) from None
