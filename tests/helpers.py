"""What the tests share: where the repository and the data are, the small-run profile, and the two ways to run
a CLI: in this process (``in_process``, the default) and as a real ``python -m lit_gen.<cli>`` (``python_m``)."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import Future
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """Where the project looks for data (lit_gen/config/schema.py: ``${oc.env:LIT_GEN_DATA,../shared/data}``, the
    relative default read from the repository, where the tests run the CLIs)."""
    return Path(os.environ.get("LIT_GEN_DATA") or REPO.parent / "shared" / "data").expanduser().absolute()


DATA = data_root()
DATA_HINT = f"set LIT_GEN_DATA, or put the data at {REPO.parent / 'shared' / 'data'} (../shared/data beside the repo)"


def need_data(*rel: str) -> Path:
    """The data folder, or a skip that says what is missing and how to provide it."""
    for r in rel:
        if not (DATA / r).exists():
            pytest.skip(f"real data not found: {DATA / r} is missing; {DATA_HINT}")
    return DATA


# The user-facing configs leave trainer.accelerator to Lightning ("auto"); the suite stays on CPU through here.
CPU = "trainer.accelerator=cpu"

# A run of seconds on the embedded scenes, in fp32 (the numbers tests pin do not depend on the machine's bf16): a few
# small batches, one epoch, cheap pictures, no FID features, no IW-NLL, CSV logs only. Tests append what they pin
# (later overrides win).
SMALL = [CPU, "trainer.precision=32-true", "trainer.enable_progress_bar=false", "trainer.max_epochs=1",
         "trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "data.scenes.num_train=128", "data.scenes.num_test=32", "data.batch_size=16",
         "metrics.features=none", "metrics.nll_k=0", "metrics.num_samples=16", "metrics.grid_size=4",
         "logger.name=csv"]

# narrow nets, per config family (the keys differ between models)
NETS = {
    "vae": ["model.widths=[8,16,16]"],
    "dcign": ["model.widths=[8,16,16]"],
    "cvae": ["model.widths=[8,16,16]", "model.feat_dim=32", "model.y_hidden=16"],
    "discvae": ["model.widths=[8,16,16]", "model.feat_dim=32", "model.y_hidden=16"],
    "gan": ["model.latent_dim=16", "model.g_width=8", "model.d_width=8"],
}


def small_overrides(family: str, *more: str) -> list[str]:
    """The small profile and that family's narrow nets, then ``more``."""
    return [*SMALL, *NETS[family], *more]


def small(config: str, *more: str) -> list[str]:
    """The arguments of a small run of ``configs/<config>.yaml`` (a family's own config), then ``more``."""
    return ["--config", f"configs/{config}.yaml", *small_overrides(config, *more)]


class Ran(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


# the session's environment (conftest): background jobs start processes while a test may have changed os.environ
SESSION_ENV: dict | None = None
# per-session folder for what background jobs write (conftest; removed at the end; under xdist one per worker)
SCRATCH: Path | None = None


def process_env(pythonpath_first: Path | None = None, **extra: str) -> dict:
    """The environment of a real lit_gen process: the session's, this checkout first on the path, offline W&B,
    one thread, and no run folder inherited from an in-process run."""
    path = [str(p) for p in (pythonpath_first, REPO) if p is not None]
    env = dict(SESSION_ENV if SESSION_ENV is not None else os.environ, PYTHONPATH=os.pathsep.join(path),
               WANDB_MODE="offline", OMP_NUM_THREADS="1")
    env.pop("LIT_GEN_RUN_DIR", None)
    env.update(extra)
    return env


def python_m(module: str, *args, env: dict | None = None, timeout: int = 300) -> Ran:
    """A real ``python -m <module> ARGS`` in the repository: only where the process is what a test is about (DDP,
    SIGKILL, the entry points, what a real process prints)."""
    r = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=env or process_env(),
                       capture_output=True, text=True, timeout=timeout)
    return Ran(r.returncode, r.stdout, r.stderr)


@contextlib.contextmanager
def _like_a_process():
    """What a fresh ``python -m`` process would give a CLI, and no state leaking into the next test: the working
    folder, the environment (seed_everything exports $PL_GLOBAL_SEED, Lightning's launcher the DDP variables, the loggers
    $WANDB_MODE), torch's global flags, and a stderr that shows what a real one shows: Lightning's log lines (its
    handlers hold the stream of import time) and warnings (pytest would only record them)."""
    import torch

    cwd, env = os.getcwd(), dict(os.environ)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    handlers = [h for name in ("lightning", "lightning.pytorch", "lightning.fabric")
                for h in logging.getLogger(name).handlers if type(h) is logging.StreamHandler]
    streams = [h.stream for h in handlers]
    for h in handlers:
        h.setStream(sys.stderr)
    os.chdir(REPO)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
                warnings.formatwarning(message, category, filename, lineno, line))
            yield
    finally:
        for h, s in zip(handlers, streams):
            h.setStream(s)
        wandb = sys.modules.get("wandb")
        if wandb is not None and wandb.run is not None:  # a run that failed before train() finished it
            wandb.finish()
        os.chdir(cwd)
        for key in set(os.environ) - set(env):  # key by key, not clear(): a background job may read it meanwhile
            del os.environ[key]
        os.environ.update(env)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def in_process(module: str, *args) -> Ran:
    """``in_process("fit", *args)`` is ``python -m lit_gen.fit ARGS`` run in this process, from the repository:
    the CLI's own ``main(argv)``, the code path of a real process minus the interpreter start (seconds: Lightning's
    import). Returns the exit code and what it printed."""
    main = importlib.import_module(f"lit_gen.{module}").main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _like_a_process():
        try:
            rc = main([str(a) for a in args])
        except SystemExit as e:  # argparse: --help, usage errors
            rc = e.code
    return Ran(rc, out.getvalue(), err.getvalue())


# ----------------------------------------------------------------------------- jobs of real processes
# A test marked ``@pytest.mark.ahead(job=...)`` reads ``ahead(job, **params)``: the job (real processes: DDP, SIGKILL,
# a fresh interpreter's stderr) runs when its first test reads it, once per job and params, and every test that
# reads it gets that one run (its result or its error). The suite's parallelism is pytest-xdist's workers
# (``-n 2 --dist loadfile``, the README's command), which keep a file's tests, and so a job's readers, together.
# A job only starts processes and collects what they leave; every assertion stays in the test.

_jobs: dict[tuple, Future] = {}


def _run_now(job, params: dict) -> Future:
    """``job(**params)`` run in this thread, its result (or its error) kept in a done Future."""
    done: Future = Future()
    done.set_running_or_notify_cancel()
    try:
        done.set_result(job(**params))
    except Exception as e:  # the tests that read the job re-raise it
        done.set_exception(e)
    return done


def ahead(job, **params):
    """What ``job(**params)`` returned (run on the first read, kept for the others)."""
    key = (job, tuple(sorted(params.items())))
    if key not in _jobs:
        _jobs[key] = _run_now(job, params)
    return _jobs[key].result()


def scratch(name: str) -> Path:
    """A fresh folder for a background job (tmp_path is per test, and a job runs before its test), in the session's
    folder (under xdist, the worker's own)."""
    return Path(tempfile.mkdtemp(prefix=f"{name}_", dir=SCRATCH))
