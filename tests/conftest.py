import os
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# One thread per process: the subprocess and 2-process DDP tests would otherwise oversubscribe 2 cores,
# where PyTorch's OpenMP threads wait on each other and a step gets ~10x slower (docs/performance.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# tests never reach a network or a W&B server
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# domain-feature nets trained by tests go to a per-session folder, not the user's ~/.cache
os.environ.setdefault("LIT_GEN_CACHE", tempfile.mkdtemp(prefix="lit_gen_test_cache_"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (the ../shared/data folder beside the repo)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _fresh_run_dir_env(monkeypatch):
    """In-process runs set $LIT_GEN_RUN_DIR (for DDP children); a later run in the same process must not reuse it."""
    monkeypatch.delenv("LIT_GEN_RUN_DIR", raising=False)
