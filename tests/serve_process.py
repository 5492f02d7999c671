"""The web demo as a subprocess, for the tests that need a real server (streaming, SIGTERM, the twin's page)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(
    model_dir: Path, repo_root: Path, scratch: Path, *extra: str, ready_within: float
) -> tuple[subprocess.Popen, str]:
    """`python -m eval.serve` (with `extra` arguments) on a free loopback port with TMPDIR=scratch and no example dataset; returns the process
    and its front page once it answers (the caller stops it). Fails naming the server's stderr if it exits, and
    after `ready_within` seconds without a page."""
    port = free_port()
    command = [sys.executable, "-m", "eval.serve", "--model", str(model_dir), "--port", str(port),
               "--examples-dir", str(scratch / "no-dataset"), *extra]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=repo_root,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_within
    try:
        while True:
            assert process.poll() is None, process.stderr.read()[-3000:]
            try:
                with urllib.request.urlopen(f"{process.url}/", timeout=2) as response:
                    return process, response.read().decode()
            except OSError:
                pass
            assert time.monotonic() < deadline, f"server not ready after {ready_within:.0f} s"
            time.sleep(0.5)
    except BaseException:
        process.kill()
        process.wait()
        raise
