"""Session-wide fixtures: the tiny offline Qwen2-VL and the synthetic datasets are built once per pytest session.

Building them costs a few seconds; every stage's tests share the same copies (read-only by convention: a test that
needs to modify data copies it into its own tmp_path first).
"""

import os
from pathlib import Path

import pytest

# No test may reach the Hub: the suite runs on a machine without it (docs/PLATFORM.md) and builds every model and
# dataset it needs locally. Set before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from offline.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"), seed=0)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    from offline.synthetic import generate

    return generate(tmp_path_factory.mktemp("synthetic"), seed=0, size="small")


@pytest.fixture(scope="session")
def torch_extensions_dir() -> Path:
    """A persistent cache for DeepSpeed's JIT-compiled CPU ops (first build ~40-90 s), shared by slow tests."""
    path = REPO_ROOT / "outputs" / ".torch_extensions"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def qwen2_tokenizer_dir() -> Path:
    """The real Qwen2-VL tokenizer's cache (offline.qwen_tokenizer; `make install` fetches it, CI included)."""
    from offline import qwen_tokenizer

    folder = qwen_tokenizer.verified_dir()
    if folder is None:
        pytest.skip(f"real Qwen2 tokenizer not cached in {qwen_tokenizer.cache_dir()}: run `make install`")
    return folder


@pytest.fixture(scope="session")
def qwen2_tiny_model_dir(tmp_path_factory, qwen2_tokenizer_dir) -> Path:
    """The tiny Qwen2-VL with the real tokenizer (vocabulary 151,936): token-level tests on the real vocabulary."""
    from offline.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_qwen2"), seed=0, tokenizer="qwen2")


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory, qwen2_tokenizer_dir) -> Path:
    """The full-size Qwen2-VL-2B twin (offline.twin), built once per session: ~1 min, ~6 GB RAM, 4.4 GB on disk.
    Only slow tests use it; on a shared machine run them under `flock /tmp/rs_r1_heavy.lock`."""
    from offline.twin import build_twin

    return build_twin(tmp_path_factory.mktemp("twin"), seed=0)
