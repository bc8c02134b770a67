"""Keep freed tensor memory in the process, as jemalloc and tcmalloc do, on glibc's malloc.

glibc maps every block above its (adaptive) mmap threshold fresh and hands freed memory at the top of the heap
back to the OS, so a loop that allocates and frees the same few-MB tensors each step page-faults them in again
every time (the IW-NLL's decoder passes: docs/performance.md). PyTorch's CPU tuning guide answers this with an
LD_PRELOADed allocator; the two glibc settings below do the same from inside the process, which a user of the CLIs
then need not know about.

A process-wide setting that cannot be undone, so only a CLI entry point applies it (``lit_gen.cli.run_cli``);
``lit_gen.run.train`` and the other library calls leave the allocator as they found it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its adaptive threshold (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)
TRIM_THRESHOLD = 256 << 20

_applied = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process, once; False where the C library is not glibc."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only: musl and others have no such mallopt parameters
    except (OSError, AttributeError):
        return False
    _applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD,
                                                                                            TRIM_THRESHOLD))
    return _applied
