"""End to end: the web demo on loopback with the tiny model, driven by Debian's headless Chromium via Playwright.

Needs /usr/bin/chromium (scripts/install_system_deps.sh); Playwright never downloads a browser here. The screenshot
goes to the test's tmp_path; with RS_R1_UPDATE_SCREENSHOT=1 it also replaces docs/images/serve.png (the README's).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from eval.serve_core import NO_REASONING
from offline.synthetic import render_scene

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
# The machine has no network: without these Chromium keeps dialling Google services and floods refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 120
ANSWER_TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tiny_model_dir, repo_root, tmp_path):
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "eval.serve", "--model", str(tiny_model_dir), "--port", str(port)]
        + ["--examples-dir", str(tmp_path / "no-dataset")],
        cwd=repo_root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{(tmp_path / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after {STARTUP_TIMEOUT_S} s:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def page(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: run scripts/install_system_deps.sh")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_upload_ask_reason_check_and_refuse(server, page, tmp_path, repo_root):
    from playwright.sync_api import expect

    image, _ = render_scene("positive_easy", np.random.default_rng(0))
    image_path = tmp_path / "site.png"
    image.save(image_path)
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("not pixels")

    page.goto(server)
    upload = page.locator("#upload input[type=file]")
    status = page.locator("#status")
    answer = page.locator("#answer-pane textarea")
    reasoning = page.locator("#reasoning-pane textarea")

    # Plain question: the random tiny model's words are gibberish, so only their presence is checked. Greedy, it
    # emits only newlines, so the test samples.
    page.locator("#temperature input[type=number]").fill("1")
    page.locator("#temperature input[type=number]").press("Enter")
    upload.set_input_files(str(image_path))
    expect(page.locator("#preview img").first).to_be_visible(timeout=30_000)
    page.locator("#ask").click()
    expect(status).to_contain_text("done: 1 image(s), plain prompt", timeout=ANSWER_TIMEOUT_MS)
    assert answer.input_value().strip()
    expect(page.locator("#reasoning-pane")).to_be_hidden()

    # Reasoning switch: both panes shown. A sampled reply of the random model rarely holds a <reasoning> block;
    # without one the reasoning pane shows the documented placeholder and the answer pane the whole reply.
    page.locator("#reasoning input[type=checkbox]").check()
    expect(reasoning).to_have_value(NO_REASONING)
    page.locator("#ask").click()
    expect(status).to_contain_text("done: 1 image(s), reasoning prompt", timeout=ANSWER_TIMEOUT_MS)
    assert reasoning.input_value().strip()
    if reasoning.input_value() == NO_REASONING:
        assert answer.input_value().strip()
    screenshot = tmp_path / "serve.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("RS_R1_UPDATE_SCREENSHOT") == "1":
        target = repo_root / "docs" / "images" / "serve.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, target)

    # SAMChat check: one verdict row per image, for both protocols.
    page.locator("#check").click()
    expect(status.locator("table")).to_contain_text("strict", timeout=ANSWER_TIMEOUT_MS)
    expect(status.locator("tbody tr")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    assert answer.input_value().startswith("[image 1]")

    # A non-image is refused with a message in the page, not a traceback.
    upload.set_input_files(str(not_an_image))
    expect(status).to_contain_text("notes.txt: not a readable image", timeout=30_000)
    page.locator("#ask").click()
    expect(status).to_contain_text("Upload refused", timeout=30_000)
    assert "Traceback" not in page.content()
