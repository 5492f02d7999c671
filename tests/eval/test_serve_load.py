"""The web demo under 20 concurrent requests from a local client: each answered or refused with Gradio's "Queue is
full" (the bounded --max-queue), the server's memory bounded, the server alive and answering afterwards."""

import threading
from pathlib import Path

import pytest
from PIL import Image

from tests.serve_process import start_serve

pytestmark = pytest.mark.slow

CLIENTS = 20
MAX_QUEUE = 4


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_twenty_concurrent_requests_are_answered_or_refused(tiny_model_dir, repo_root, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    image = tmp_path / "scene.png"
    Image.new("RGB", (64, 64), (90, 120, 60)).save(image)
    process, _ = start_serve(tiny_model_dir, repo_root, scratch, "--max-queue", str(MAX_QUEUE), ready_within=120)
    outcomes: list[str] = []
    try:
        clients = [Client(process.url, verbose=False) for _ in range(CLIENTS)]
        before = _rss_mb(process.pid)
        start = threading.Barrier(CLIENTS)

        def ask(client):
            start.wait()
            try:
                answer, _, status = client.predict(
                    [handle_file(str(image))], "What is shown?", False, 1.0, 1.0, 256, api_name="/ask"
                )
                outcomes.append("answered" if status.startswith("done: 1 image(s)") else f"odd status {status!r}")
            except QueueError as exc:
                outcomes.append("refused" if str(exc) == "Queue is full! Please try again." else f"odd {exc}")
            except AppError as exc:  # what a crash in the handler would be
                outcomes.append(f"error {exc}")

        threads = [threading.Thread(target=ask, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        after = _rss_mb(process.pid)
        assert process.poll() is None
        # Still serving: a request after the burst is answered.
        _, _, status = Client(process.url, verbose=False).predict(
            [handle_file(str(image))], "And now?", False, 0.0, 1.0, 16, api_name="/ask"
        )
    finally:
        process.kill()
        process.wait()
    assert status.startswith("done: 1 image(s)")
    assert set(outcomes) <= {"answered", "refused"}, outcomes
    assert len(outcomes) == CLIENTS
    # The one being answered and the MAX_QUEUE behind it are always answered; a reply of up to 256 tokens takes far
    # longer than the 20 submissions, so some are refused (measured: 5 answered, 15 refused).
    assert outcomes.count("answered") >= 1 + MAX_QUEUE
    assert outcomes.count("refused") >= 1
    # Bounded: the burst costs the tiny model's server little (measured: tens of MB); no growth per request held.
    assert after - before < 300, (before, after)
