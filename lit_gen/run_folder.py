"""The run folder: decided once for every rank, locked while a process trains into it, never replaced by a name.

- **One folder for all ranks.** Lightning's own DDP launcher starts its ranks from the first process, which hands
  them its folder (``$LIT_GEN_RUN_DIR``, set only while ``trainer.fit`` runs). Under an external launcher every rank
  runs the CLI itself: with ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set) rank 0 decides and broadcasts its choice
  over the process group, which lit_gen starts early for this (Lightning then uses it); under SLURM the default name
  comes from the job and step ids, the same on every task.
- **A lock** (``fcntl.flock`` on ``<run>/.lock``) held by the first rank for the whole run: the OS drops it when the
  process dies, so a killed run leaves no stale lock (the file stays, unlocked); a finished run removes the file. A second process gets one line naming the holder's pid.
- **No run destroyed by a name.** A folder that holds a run is refused without ``ckpt_path`` (to continue it) or
  ``run.overwrite=true`` (to replace it; the old files go only once the new run is built and about to write).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Optional

from lit_gen.errors import UserError

RUN_DIR_ENV = "LIT_GEN_RUN_DIR"  # Lightning's DDP launcher re-runs the CLI: its children land in the parent's folder
LOCK_NAME = ".lock"
RUN_FILES = ("config.yaml", "metrics.csv", "final_metrics.json")  # any of these, or a checkpoint: the folder holds a run


def _env_int(key: str, default: int = 0) -> int:
    try:
        return int(os.environ.get(key, default))
    except ValueError:
        return default


def launched_rank() -> int:
    """This process's global rank as a launcher set it (0 for a lone process and for Lightning's first process)."""
    for key in ("RANK", "SLURM_PROCID"):
        if key in os.environ:
            return _env_int(key)
    return _env_int("LOCAL_RANK") + _env_int("NODE_RANK")


def external_launch() -> bool:
    """torchrun (or any env:// launcher): every rank runs the CLI with its RANK, and none was handed a folder."""
    return "RANK" in os.environ and _env_int("WORLD_SIZE", 1) > 1 and RUN_DIR_ENV not in os.environ


def slurm_job() -> Optional[str]:
    """``<job>.<step>`` of a multi-task SLURM step: every task of it sees the same."""
    if _env_int("SLURM_NTASKS", 1) > 1 and os.environ.get("SLURM_JOB_ID"):
        return f"{os.environ['SLURM_JOB_ID']}.{os.environ.get('SLURM_STEP_ID', '0')}"
    return None


def holds_run(folder: Path) -> bool:
    ckpts = folder / "checkpoints"
    return any((folder / f).exists() for f in RUN_FILES) or (ckpts.is_dir() and any(ckpts.iterdir()))


def _latest_run(root: Path, prefix: str) -> Optional[Path]:
    candidates = [p for p in root.glob(f"{prefix}*") if (p / "checkpoints" / "last.ckpt").is_file()]
    return max(candidates, key=lambda p: (p / "checkpoints" / "last.ckpt").stat().st_mtime) if candidates else None


def _fresh_folder(root: Path, base: str) -> Path:
    """``root/base``, or ``base-2``, ``base-3``...: a default name never lands in a folder another run made."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        folder = root / (base if i == 1 else f"{base}-{i}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise UserError(f"run.dir={root}: 999 runs named {base}*; set run.name")


def resolve_run(cfg) -> tuple[Path, Optional[str]]:
    """The run folder and the checkpoint to resume from (or None), as the first rank decides them."""
    root = Path(cfg.run.dir)
    prefix = f"{cfg.model.name}-{cfg.data.name}-"
    ckpt = cfg.ckpt_path
    if os.environ.get(RUN_DIR_ENV):
        run_dir = Path(os.environ[RUN_DIR_ENV])
    elif ckpt == "last":
        run_dir = root / cfg.run.name if cfg.run.name else _latest_run(root, prefix)
        if run_dir is None:
            raise UserError(f"ckpt_path=last: no run folder under run.dir={root} has checkpoints/last.ckpt; set run.name")
    elif ckpt:
        p = Path(ckpt)
        run_dir = p.parent.parent if p.parent.name == "checkpoints" else root / (cfg.run.name or p.stem)
    elif cfg.run.name:
        run_dir = root / cfg.run.name
    else:
        job = slurm_job()
        run_dir = root / (prefix + f"slurm{job}") if job else _fresh_folder(root, prefix + datetime.now().strftime(
            "%Y%m%d-%H%M%S"))
    if ckpt == "last":
        ckpt = str(run_dir / "checkpoints" / "last.ckpt")
    if ckpt and not Path(ckpt).is_file():
        raise UserError(f"ckpt_path={cfg.ckpt_path}: no checkpoint at {ckpt}")
    return run_dir, ckpt


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock``, released by ``release()`` or by the process's end."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # Windows: no flock; runs there are not locked
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise UserError(f"run folder {self.run_dir} is in use by another lit_gen process (pid {holder}); wait "
                                "for it to finish, or choose another run.name") from None
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)  # the holder removed this file as we opened it: lock the one at the path now
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still held, so nobody locks a file on its way out
        os.close(self._fd)
        self._fd = None
        try:
            self.run_dir.rmdir()  # a run that stopped before writing anything leaves no folder
        except OSError:
            pass


def check_reuse(cfg, run_dir: Path, ckpt: Optional[str]) -> None:
    """A folder that holds a run is refused without ``ckpt_path`` (continue it) or ``run.overwrite`` (replace it)."""
    if ckpt or cfg.run.overwrite or not holds_run(run_dir):
        return
    resume = "ckpt_path=last to continue it, " if (run_dir / "checkpoints" / "last.ckpt").is_file() else ""
    raise UserError(f"run.name={run_dir.name}: {run_dir} already holds a run; add {resume}run.overwrite=true to "
                    "replace it, or choose another run.name")


def clear_old_run(cfg, run_dir: Path, ckpt: Optional[str]) -> bool:
    """``run.overwrite``: the earlier run's files removed (the lock kept), once the new run has got as far as
    writing its own; True if there was one."""
    if ckpt or not cfg.run.overwrite or not holds_run(run_dir):
        return False
    for p in run_dir.iterdir():
        if p.name != LOCK_NAME:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return True


def claim_run_folder(cfg) -> tuple[Path, Optional[str], Optional[RunLock]]:
    """(run folder, checkpoint to resume, the lock this process holds or None) for every rank alike."""
    if external_launch():
        return _claim_across_ranks(cfg)
    run_dir, ckpt = resolve_run(cfg)
    if launched_rank() != 0 or os.environ.get(RUN_DIR_ENV):
        return run_dir, ckpt, None  # a rank of a run whose first process holds the lock
    return run_dir, ckpt, _lock_and_check(cfg, run_dir, ckpt)


def _lock_and_check(cfg, run_dir: Path, ckpt: Optional[str]) -> RunLock:
    lock = RunLock(run_dir).acquire()
    try:
        check_reuse(cfg, run_dir, ckpt)
    except BaseException:
        lock.release()
        raise
    return lock


def _claim_across_ranks(cfg) -> tuple[Path, Optional[str], Optional[RunLock]]:
    """Rank 0 decides (and locks); the others receive its folder, or its error, over the process group."""
    import torch.distributed as dist

    start_process_group(cfg.trainer.accelerator)
    choice: list = [None]
    lock = None
    if dist.get_rank() == 0:
        try:
            run_dir, ckpt = resolve_run(cfg)
            lock = _lock_and_check(cfg, run_dir, ckpt)
            choice = [(str(run_dir), ckpt, None)]
        except UserError as e:
            choice = [(None, None, str(e))]
    dist.broadcast_object_list(choice, src=0)
    run_dir, ckpt, error = choice[0]
    if error:
        raise UserError(error)
    return Path(run_dir), ckpt, lock


def start_process_group(accelerator: str) -> None:
    """The process group Lightning would start (gloo on CPU, NCCL on GPUs), started now; Lightning reuses it."""
    import torch
    import torch.distributed as dist

    from lit_gen.fast_paths import uses_gpu

    if dist.is_initialized():
        return
    gpu = uses_gpu(accelerator)
    if gpu:
        torch.cuda.set_device(_env_int("LOCAL_RANK"))
    dist.init_process_group("nccl" if gpu else "gloo")
