import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

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
