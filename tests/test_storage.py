"""A failed write (disk full, read-only, no permission) leaves no partial file, keeps the previous version and stops
with one line naming the path and the errno: ``lit_gen.storage`` and the writers built on it."""

import errno
import io
import os
from pathlib import Path

import pytest
import torch

from helpers import in_process, small
from lit_gen.errors import StorageError
from lit_gen.storage import atomic_path
from lit_gen.tracking import csv_log
from lit_gen.tracking.csv_log import RunCSVLogger


def enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_keeps_the_old_file_and_names_path_and_errno(tmp_path):
    target = tmp_path / "out" / "grid.png"
    target.parent.mkdir()
    target.write_bytes(b"the earlier version")
    with pytest.raises(StorageError) as e:
        with atomic_path(target, keep_suffix=True) as tmp:
            assert tmp.parent == target.parent and tmp.suffix == ".png" and tmp.name.startswith(".")
            tmp.write_bytes(b"half of the new ve")
            raise enospc()
    msg = str(e.value)
    assert msg.startswith(f"cannot write {target}: [Errno 28] ") and "\n" not in msg, msg
    assert isinstance(e.value.__cause__, OSError) and e.value.__cause__.errno == errno.ENOSPC
    assert sorted(p.name for p in target.parent.iterdir()) == ["grid.png"]  # no temporary file left
    assert target.read_bytes() == b"the earlier version"


def test_other_errors_pass_through_unchanged_and_leave_no_temp_file(tmp_path):
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"old")
    for raised in (ValueError("not a storage problem"), OSError(errno.EINVAL, os.strerror(errno.EINVAL))):
        with pytest.raises(type(raised)) as e:
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"new")
                raise raised
        assert e.value is raised and not isinstance(e.value, StorageError)
        assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"] and target.read_bytes() == b"old"
    with atomic_path(target) as tmp:  # and a write that works replaces the file
        tmp.write_bytes(b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"] and target.read_bytes() == b"new"


def test_a_folder_that_cannot_be_made_is_a_storage_error(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(StorageError, match=r"cannot write .*new.json: \[Errno 30\] "):
        with atomic_path(tmp_path / "sub" / "new.json") as tmp:
            tmp.write_text("{}")


class FillsUp(io.TextIOWrapper):
    """A file whose first write stores half of its text and then finds the disk full."""

    def write(self, s):
        super().write(s[: len(s) // 2])
        self.flush()
        raise enospc()


def test_a_csv_append_that_fails_midway_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    log = RunCSVLogger(str(tmp_path), flush_every=1000)
    log.log_metrics({"train/loss": 1.0}, step=0)
    log.save()  # the file starts: header and a row
    log.log_metrics({"train/loss": 0.5}, step=1)
    log.save()  # the same keys: an append
    before = log.path.read_bytes()
    assert before.count(b"\n") == 3

    def open_full(file, mode="r", *args, **kwargs):
        if "a" not in mode:
            return open(file, mode, *args, **kwargs)
        return FillsUp(open(file, "ab"), newline=kwargs.get("newline"))

    monkeypatch.setattr(csv_log, "open", open_full, raising=False)
    log.log_metrics({"train/loss": 0.25}, step=2)
    log.log_metrics({"train/loss": 0.125}, step=3)
    with pytest.raises(StorageError) as e:
        log.save()
    assert str(e.value).startswith(f"cannot write {log.path}: [Errno 28] ")
    assert log.path.read_bytes() == before  # not half a row
    monkeypatch.undo()
    log.finalize("success")  # the rows that failed are written by the next save that works
    rows = log.path.read_text().splitlines()
    assert rows[1:] == ["0,1.0", "1,0.5", "2,0.25", "3,0.125"]


def test_a_full_disk_at_the_second_epochs_checkpoint_stops_with_one_line_and_keeps_the_first(tmp_path, monkeypatch):
    """Needs the Trainer to write through lit_gen.storage.AtomicCheckpointIO (lit_gen/run.py's plugins)."""
    ckpts = tmp_path / "full" / "checkpoints"
    real_save = torch.save
    saved_steps, failed = [], []

    def fills_up_after_epoch_0(obj, f, *args, **kwargs):
        name = getattr(f, "name", f)  # Lightning's own TorchCheckpointIO saves into a BytesIO first
        target = Path(name) if isinstance(name, (str, os.PathLike)) else None
        if target is None or target.parent != ckpts or not isinstance(obj, dict) or obj.get("epoch", 0) < 1:
            if target is not None and target.parent == ckpts:
                saved_steps.append(obj["global_step"])
            return real_save(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        real_save(obj, buf)
        data = buf.getvalue()
        if hasattr(f, "write"):
            f.write(data[: len(data) // 2])
        else:
            Path(f).write_bytes(data[: len(data) // 2])
        failed.append(target)
        raise enospc()

    monkeypatch.setattr(torch, "save", fills_up_after_epoch_0)
    r = in_process("fit", *small("vae", "trainer.max_epochs=2", f"run.dir={tmp_path}", "run.name=full"))
    monkeypatch.undo()

    assert failed, "no checkpoint was written to its file by torch.save: does the Trainer use AtomicCheckpointIO?"
    assert r.returncode == 4, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith("error: cannot write "), r.stderr[-3000:]
    assert str(ckpts) in lines[0] and ".ckpt" in lines[0] and "[Errno 28]" in lines[0], lines[0]
    assert not [p.name for p in ckpts.iterdir() if p.name.startswith(".")]  # no temporary file left
    last = torch.load(ckpts / "last.ckpt", weights_only=True, map_location="cpu")
    assert last["epoch"] == 0 and last["global_step"] == max(saved_steps) > 0
