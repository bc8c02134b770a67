"""Writing files so that a failed write (disk full, quota, read-only, no permission) leaves no partial file, keeps
the previous version, and stops with one line naming the path and the errno (``lit_gen.errors.StorageError``).

Every writer goes through ``atomic_path``: it writes a temporary file beside the target (``.<name>.tmp<pid>``,
hidden, so no folder scan takes it for data) and renames it over the target only once it is complete.
``AtomicCheckpointIO`` is the Trainer's checkpoint plugin built on it (``plugins=[AtomicCheckpointIO()]``).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator

from lit_gen.errors import StorageError

# the errors of the storage, not of the program: they stop a run with one line instead of a traceback
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def storage_error(path, e: OSError) -> StorageError:
    """The one-line StorageError for ``e``, a failed write of ``path``."""
    return StorageError(f"cannot write {path}: [Errno {e.errno}] {e.strerror or os.strerror(e.errno)}; "
                        "the earlier files there are kept")


@contextlib.contextmanager
def storage_errors(path) -> Iterator[None]:
    """Turn an OSError of ``STORAGE_ERRNOS`` inside the block into ``storage_error(path)``; others pass unchanged."""
    try:
        yield
    except OSError as e:
        if e.errno in STORAGE_ERRNOS:
            raise storage_error(path, e) from e
        raise


def temp_path(path: Path, keep_suffix: bool = False) -> Path:
    """The temporary file ``atomic_path`` writes for ``path``: ``.last.ckpt.tmp<pid>``, or with ``keep_suffix``
    ``.grid.tmp<pid>.png`` (for writers that pick the format by the suffix: PIL, ``np.savez``)."""
    name = f".{path.stem}.tmp{os.getpid()}{path.suffix}" if keep_suffix else f".{path.name}.tmp{os.getpid()}"
    return path.with_name(name)


@contextlib.contextmanager
def atomic_path(path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for the caller to write; on success it replaces ``path`` (a reader
    sees the old file or the new one, never half of one). On any exception the temporary file is removed and the
    old file kept; an OSError of ``STORAGE_ERRNOS`` (also from creating the folder) becomes a ``StorageError``."""
    path = Path(path)
    with storage_errors(path):
        if path.exists() and not path.is_file():
            yield path  # a device or pipe (/dev/null, /dev/stdout): written in place, never renamed over
            return
        # a symlink stays a link: its target is the file replaced
        real = Path(os.path.realpath(path)) if path.is_symlink() else path
        tmp = temp_path(real, keep_suffix)
        real.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield tmp
            os.replace(tmp, real)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise


def write_text_atomic(path, text: str) -> Path:
    """``Path(path).write_text(text)`` through ``atomic_path``; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def copy_atomic(src, path) -> Path:
    """``shutil.copyfile(src, path)`` through ``atomic_path``; returns the path."""
    import shutil

    with atomic_path(path) as tmp:
        shutil.copyfile(src, tmp)
    return Path(path)


def torch_save_atomic(obj, path) -> Path:
    """``torch.save(obj, path)`` through ``atomic_path``; returns the path."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        # a file object, not the path: torch's own writer turns ENOSPC into a RuntimeError without the errno
        torch.save(obj, f)
    return Path(path)


def _checkpoint_io_class():
    from lightning.fabric.utilities.types import _PATH
    from lightning.pytorch.plugins.io import TorchCheckpointIO
    from typing_extensions import override

    class AtomicCheckpointIO(TorchCheckpointIO):
        """TorchCheckpointIO whose local checkpoints are written through ``atomic_path``: a failed write keeps the
        earlier checkpoint at that path (``last.ckpt`` still loads) and raises ``StorageError``. Remote paths
        (``s3://``...) are Lightning's own ``fsspec`` transaction."""

        @override
        def save_checkpoint(self, checkpoint: dict, path: _PATH, storage_options=None) -> None:
            import fsspec
            from fsspec.implementations.local import LocalFileSystem

            fs, local = fsspec.core.url_to_fs(str(path))
            if storage_options is not None or not isinstance(fs, LocalFileSystem):
                return super().save_checkpoint(checkpoint, path, storage_options)  # its TypeError, its remote write
            torch_save_atomic(checkpoint, local)

    # pickled by name (a spawned process finds it through __getattr__ below)
    AtomicCheckpointIO.__module__, AtomicCheckpointIO.__qualname__ = __name__, "AtomicCheckpointIO"
    return AtomicCheckpointIO


def __getattr__(name: str):
    # built on first use: importing this module stays free of torch and Lightning (the CLIs' --help stays fast)
    if name == "AtomicCheckpointIO":
        cls = globals()[name] = _checkpoint_io_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
