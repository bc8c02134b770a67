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


def _xdist_worker(config) -> bool:
    """A pytest-xdist worker (``-n 2``): one of the processes that run the tests."""
    return hasattr(config, "workerinput") or bool(os.environ.get("PYTEST_XDIST_WORKER"))


def _xdist_controller(config) -> bool:
    """The pytest-xdist controller: it starts the workers and runs no test (xdist's own test, less its import)."""
    return (not _xdist_worker(config) and config.getoption("dist", "no") != "no"
            and bool(config.getoption("tx", None)) and not config.getoption("collectonly", False))


def pytest_configure(config):
    """One folder per session, removed at the end, so a session leaves nothing in the temporary folder: the domain
    feature nets that runs train (there instead of the user's ~/.cache, unless $LIT_GEN_CACHE is set) and what
    jobs of real processes write. (A hook, not import-time code: a spawned process that imports the test modules
    inherits the folder instead of making its own.) Under pytest-xdist each worker is such a session, with its own
    folder and cache; the controller, which runs no test, makes none and leaves $LIT_GEN_CACHE unset, so the workers
    it starts do not share its folder."""
    if _xdist_controller(config):
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # under xdist gw0, gw1: in the folder's name
    root = Path(tempfile.mkdtemp(prefix=f"lit_gen_test_{worker}_" if worker else "lit_gen_test_"))
    config.stash[_SCRATCH] = root, os.environ.get("LIT_GEN_CACHE")
    os.environ.setdefault("LIT_GEN_CACHE", str(root / "cache"))
    helpers.SCRATCH, helpers.SESSION_ENV = root, dict(os.environ)


def pytest_unconfigure(config):
    if _SCRATCH not in config.stash:
        return
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
