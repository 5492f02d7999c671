"""What the machine running the tests can do, for tests whose cost depends on it."""

from pathlib import Path

import pytest


def native_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (amx_bf16 / avx512_bf16). Without them PyTorch runs bf16 matmuls
    through slow fallback kernels: one SFT step of the 2B twin under bf16 autocast ran past pytest-timeout's 15
    minutes on a 2-core AVX2-only AMD EPYC, where an AMX machine takes about a minute (benchmarks/_models.py picks
    the twin's dtype by the same test)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


# bf16 compute on the 2B twin: skipped, with its reason, where it cannot finish in CI's time.
needs_native_bf16 = pytest.mark.skipif(
    not native_bf16(),
    reason="bf16 compute on the 2B twin needs a CPU with amx_bf16 / avx512_bf16 to finish within the test timeout "
    "(tests/machine.py)",
)
