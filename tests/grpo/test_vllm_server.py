"""GRPO's vLLM server mode with no server: unreachable at start, or lost mid-run, is one line naming the server and
where the same command resumes. vLLM is not installed here: TRL's own client (VLLMClient) runs against a closed
port and a fake server, with TRL's "is vLLM installed" checks answered yes."""

import http.server
import json
import logging
import socket
import threading
from types import SimpleNamespace

import pytest
import trl.generation.vllm_client as vllm_client
import trl.generation.vllm_generation as vllm_generation
from requests.adapters import HTTPAdapter

from grpo.vllm_server import VLLMServerError, vllm_server_errors

START = "start it (`trl vllm-serve --model MODEL`, or VLLM_GPUS=N with scripts/slurm/grpo.sbatch)"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def vllm_installed(monkeypatch):
    monkeypatch.setattr(vllm_client, "is_vllm_available", lambda: True)
    monkeypatch.setattr(vllm_generation, "is_vllm_available", lambda: True)


def server_args(tmp_path, port, **extra):
    values = {"use_vllm": True, "vllm_mode": "server", "vllm_server_base_url": None, "vllm_server_host": "127.0.0.1",
              "vllm_server_port": port, "vllm_server_timeout": 0.0, "resume_from_checkpoint": None,
              "output_dir": str(tmp_path), "save_only_model": False, "deepspeed": None}  # fmt: skip
    return SimpleNamespace(**{**values, **extra})


def test_unreachable_at_start_is_one_line(vllm_installed, tmp_path):
    port = closed_port()
    args = server_args(tmp_path, port)
    with pytest.raises(VLLMServerError) as caught, vllm_server_errors(args, "start"):
        vllm_client.VLLMClient(host="127.0.0.1", server_port=port, connection_timeout=0)
    assert str(caught.value) == (
        f"the vLLM server at http://127.0.0.1:{port} did not answer within vllm_server_timeout 0 s "
        f"(ConnectionError); {START} and run the same command again: no complete checkpoint in {tmp_path} yet: the "
        "same command starts over"
    )


class FakeServer(http.server.BaseHTTPRequestHandler):
    """What VLLMClient asks of `trl vllm-serve` before generating: /health and /v1/models."""

    def do_GET(self):
        body = json.dumps({"data": [{"id": "served"}]} if self.path == "/v1/models" else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_lost_mid_run_is_one_line(vllm_installed, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    client = vllm_client.VLLMClient(base_url=f"http://127.0.0.1:{port}", connection_timeout=5)
    assert client.model == "served"
    server.shutdown()
    server.server_close()
    # TRL retries a refused connection 5 times with exponential backoff (about a minute) before giving up; the
    # outcome is the same without the wait.
    client.session.mount("http://", HTTPAdapter(max_retries=0))
    args = server_args(tmp_path, port, vllm_server_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(VLLMServerError) as caught, vllm_server_errors(args, "training"):
        client.get_world_size()
    assert str(caught.value).startswith(
        f"the vLLM server at http://127.0.0.1:{port} stopped answering during training (ConnectionError); {START}"
    )


def test_other_modes_pass_errors_through(tmp_path):
    import requests

    with (
        pytest.raises(requests.exceptions.ConnectionError),
        vllm_server_errors(server_args(tmp_path, 1, vllm_mode="colocate"), "start"),
    ):
        raise requests.exceptions.ConnectionError("not ours")


def test_grpo_train_without_its_server_ends_with_one_line(
    vllm_installed, repo_root, tiny_model_dir, synthetic_dir, tmp_path, caplog
):
    import grpo.train

    port = closed_port()
    out = tmp_path / "out"
    argv = ["--config", str(repo_root / "configs/grpo/demo.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--dataset_name", str(synthetic_dir / "samdata" / "grpo"), "--output_dir", str(out),
            "--report_to", "none", "--use_vllm", "true", "--vllm_mode", "server", "--vllm_server_host", "127.0.0.1",
            "--vllm_server_port", str(port), "--vllm_server_timeout", "0", "--max_steps", "1"]  # fmt: skip
    levels = {name: logging.getLogger(name).level for name in ("common", "grpo", "__main__")}
    try:
        with caplog.at_level(logging.ERROR):
            assert grpo.train.main(argv) == 1
    finally:
        for name, level in levels.items():  # main() sets this project's loggers to INFO
            logging.getLogger(name).setLevel(level)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        f"the vLLM server at http://127.0.0.1:{port} did not answer within vllm_server_timeout 0 s "
        f"(ConnectionError); {START} and run the same command again: no complete checkpoint in {out} yet: the "
        "same command starts over"
    ]
