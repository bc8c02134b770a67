"""The CLIs keep freed tensor memory in the process (lit_gen/allocator.py). The setting is process-wide, so the
page-fault count is taken in a fresh interpreter: the process boundary is the point here."""

import subprocess
import sys

import pytest

from lit_gen.allocator import keep_freed_memory

# an MLP decoder's passes at 4000 rows, the shape of an IW-NLL pass: under glibc's default thresholds each pass
# faults its few-MB tensors in again
_PASSES = """
import resource, sys, torch
from lit_gen.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
ws = [torch.randn(50, 200), torch.randn(200, 200), torch.randn(200, 784)]
def passes(n):
    for _ in range(n):
        h = torch.randn(4000, 50)
        for w in ws:
            h = torch.tanh(h @ w)
        torch.exp(h).add_(1).log_().sum(-1)
passes(2)
# the fewest faults of three windows of 10 passes: what recurs every pass shows in each window, a one-off (an
# OpenMP thread's malloc arena growing once: 0-4600 faults in one window of about one run in two) in one only
counts = []
for _ in range(3):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    passes(10)
    counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(min(counts))
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PASSES, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_freed_tensor_memory_is_reused_without_page_faults():
    if not keep_freed_memory():
        pytest.skip("the C library is not glibc: its malloc has no such thresholds")
    kept, default = _faults("keep"), _faults("default")
    assert kept < 1000, f"{kept} page faults in 10 passes with freed memory kept ({default} with glibc's defaults)"


def test_the_clis_keep_freed_memory(monkeypatch):
    from lit_gen import allocator
    from lit_gen.cli import run_cli

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1))
    assert run_cli(lambda argv: 0) == 0 and calls == [1]
