import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

import helpers
from helpers import DATA, DATA_HINT

_SCRATCH = pytest.StashKey[tuple]()

# One thread per process: the subprocess and 2-process DDP tests would otherwise oversubscribe 2 cores,
# where PyTorch's OpenMP threads wait on each other and a step gets ~10x slower (docs/performance.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# tests never reach a network or a W&B server
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


def pytest_configure(config):
    """One folder per session, removed at the end, so a session leaves nothing in the temporary folder: the domain
    feature nets that runs train (there instead of the user's ~/.cache, unless $LIT_GEN_CACHE is set) and what
    background jobs write. (A hook, not import-time code: a spawned worker that imports the test modules inherits
    the folder instead of making its own.)"""
    root = Path(tempfile.mkdtemp(prefix="lit_gen_test_"))
    config.stash[_SCRATCH] = root, os.environ.get("LIT_GEN_CACHE")
    os.environ.setdefault("LIT_GEN_CACHE", str(root / "cache"))
    helpers.SCRATCH, helpers.SESSION_ENV = root, dict(os.environ)


def pytest_collection_modifyitems(items):
    """The tests that read a background job run last, so the jobs have the whole in-process suite's time to
    finish instead of this process waiting for them."""
    items.sort(key=lambda item: item.get_closest_marker("ahead") is not None)  # stable: file order otherwise


def pytest_collection_finish(session):
    """The selected tests' jobs of real processes start now, in the order their tests will run (helpers.ahead)."""
    if not session.config.option.collectonly:
        for item in session.items:
            helpers.start_ahead_for(item)


def pytest_unconfigure(config):
    if _SCRATCH not in config.stash:
        return
    helpers.stop_ahead()
    root, cache = config.stash[_SCRATCH]
    if cache is None:
        os.environ.pop("LIT_GEN_CACHE", None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA}; {DATA_HINT}")
    return DATA


@pytest.fixture
def face_root(shared_data):
    """The data root holding the Surrey Face Model, or a skip that says what is missing (file or eos-py)."""
    if not (shared_data / "sfm" / "sfm_shape_3448.bin").is_file():
        pytest.skip(f"the Surrey Face Model is not at {shared_data / 'sfm'} (see the README's data table)")
    try:
        import eos  # noqa: F401
    except ImportError:
        pytest.skip('eos-py is not installed (pip install -e ".[faces]")')
    return shared_data
