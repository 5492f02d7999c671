"""What the machine running the tests can do, for tests whose cost depends on it."""

import pytest

from offline.twin import cpu_has_bf16

# bf16 compute on the 2B twin: skipped, with its reason, where it cannot finish within the test timeout
# (offline.twin.cpu_has_bf16 says why).
needs_native_bf16 = pytest.mark.skipif(
    not cpu_has_bf16(),
    reason="bf16 compute on the 2B twin needs a CPU with amx_bf16 / avx512_bf16 to finish within the test timeout "
    "(offline.twin.cpu_has_bf16)",
)
