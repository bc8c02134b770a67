"""Faults of shared machines and clusters: a second process on a run folder, a reused run name, SIGTERM and Ctrl-C
during training (single-process and DDP), ranks that torchrun starts at different times, train() twice in one
process. (A full disk is in test_storage.py, SIGKILL in test_resume_crash.py.)"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from helpers import REPO, ahead, in_process, process_env, scratch, small

# one epoch of 36 steps at batch 32, deterministic kernels; long enough to be stopped in the middle
TINY = small("vae", "data.scenes.num_train=1280", "data.scenes.num_test=64", "data.batch_size=32",
             "trainer.limit_train_batches=null", "trainer.limit_val_batches=null", "trainer.max_epochs=2",
             "trainer.deterministic=true")
STEPS_PER_EPOCH = 1280 * 9 // 10 // 32  # val_fraction 0.1, drop_last
DDP = ["trainer.num_sanity_val_steps=0", "trainer.devices=2", "trainer.strategy=ddp"]


def _load(path):
    return torch.load(path, weights_only=True, map_location="cpu")


def _step(path):
    try:
        return _load(path)["global_step"]
    except Exception:  # noqa: BLE001 - not written yet
        return -1


def _fit(folder, *args):
    return [sys.executable, "-m", "lit_gen.fit", *TINY, f"run.dir={folder}", *args]


# --- a run folder in use ------------------------------------------------------------------------------------------
HOLD = """import sys, time
from lit_gen.run_folder import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_a_locked_folder_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    folder = tmp_path / "same"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=REPO, env=process_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=same"))
        assert r.returncode == 2
        assert r.stderr.strip() == (f"error: run folder {folder} is in use by another lit_gen process "
                                    f"(pid {holder.pid}); wait for it to finish, or choose another run.name")
        assert [p.name for p in folder.iterdir()] == [".lock"]  # nothing of the refused run was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    r = in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=same"))  # the OS dropped the dead lock
    assert r.returncode == 0, r.stderr[-2000:]
    assert (folder / "checkpoints" / "last.ckpt").is_file()


LONG = 15  # epochs: the first run outlasts the second process's start


def two_on_one_folder():
    """A real run training into run.name=same, and a second real process started on the same folder meanwhile."""
    folder = scratch("two_on_one")
    log = folder / "first.stderr"
    with log.open("w") as f:
        first = subprocess.Popen(_fit(folder, "run.name=same", f"trainer.max_epochs={LONG}"), cwd=REPO, env=process_env(),
                                 stdout=subprocess.DEVNULL, stderr=f)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and first.poll() is None and not (folder / "same" / "config.yaml").is_file():
            time.sleep(0.05)
        second = subprocess.run(_fit(folder, "run.name=same"), cwd=REPO, env=process_env(), capture_output=True,
                                text=True, timeout=300)
        overlapped = first.poll() is None
        first.wait(timeout=300)
    finally:
        first.kill()
    return {"folder": folder / "same", "first": first.returncode, "first_log": log.read_text(), "second": second,
            "overlapped": overlapped}


@pytest.mark.slow
@pytest.mark.ahead(job=two_on_one_folder)
def test_a_second_process_on_a_folder_in_use_gets_one_line_and_the_first_keeps_every_row():
    job = ahead(two_on_one_folder)
    assert job["overlapped"], "the first run ended before the second process was refused: lengthen it"
    second = job["second"]
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "is in use by another lit_gen process (pid" in lines[0], second.stderr[-2000:]
    assert job["first"] == 0, job["first_log"][-3000:]
    import csv

    rows = list(csv.DictReader((job["folder"] / "metrics.csv").open()))
    # every epoch's validation row and every 20th step's training row of the first run, and nothing else
    assert sorted(int(r["epoch"]) for r in rows if r.get("val/loss")) == list(range(LONG))
    train_steps = sorted(int(r["step"]) for r in rows if r.get("train/loss_step"))
    assert train_steps == list(range(19, LONG * STEPS_PER_EPOCH, 20))


# --- a reused run name --------------------------------------------------------------------------------------------
def test_a_reused_name_is_refused_and_overwrite_replaces(tmp_path):
    args = small("vae", f"run.dir={tmp_path}", "run.name=mine")
    assert in_process("fit", *args).returncode == 0
    folder = tmp_path / "mine"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    stale = folder / "images" / "stale.png"
    stale.write_bytes(b"an earlier run's picture")

    r = in_process("fit", *args)
    assert r.returncode == 2
    assert r.stderr.strip() == (f"error: run.name=mine: {folder} already holds a run; add ckpt_path=last to continue "
                                "it, run.overwrite=true to replace it, or choose another run.name")
    assert all(p.read_bytes() == b for p, b in before.items())  # not a byte of the finished run changed

    r = in_process("fit", *args, "run.overwrite=true")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"the earlier run in {folder} is replaced" in r.stdout
    assert not stale.exists()
    import csv

    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows if r.get("val/loss")] == [0]  # the new run's rows only


def test_train_twice_in_one_process_makes_two_runs(tmp_path):
    from lit_gen.config import load_config
    from lit_gen.run import train

    cfg = load_config("configs/vae.yaml", small("vae", f"run.dir={tmp_path}")[2:])
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        train(cfg)
        train(cfg)
    finally:
        os.chdir(cwd)
    runs = sorted(p for p in tmp_path.iterdir())
    assert len(runs) == 2, runs  # the default names differ (a suffix when both start in one second)
    assert all((p / "checkpoints" / "last.ckpt").is_file() and (p / "metrics.csv").is_file() for p in runs)
    assert "LIT_GEN_RUN_DIR" not in os.environ


# --- SIGTERM and Ctrl-C -------------------------------------------------------------------------------------------
def stop_and_resume(ddp: bool, signum: int = signal.SIGTERM):
    """An uninterrupted run, and a run sent ``signum`` once its step checkpoint shows it is training (to the first
    process only, as Kubernetes does), then resumed with ckpt_path=last."""
    folder = scratch("stop_resume")
    more = [*(DDP if ddp else []), "run.ckpt_every_n_steps=5"]
    full_log = folder / "full.stderr"
    with full_log.open("w") as f:
        full = subprocess.Popen(_fit(folder, "run.name=full", *more), cwd=REPO, env=process_env(),
                                stdout=subprocess.DEVNULL, stderr=f)
    try:
        last = folder / "stopped" / "checkpoints" / "last.ckpt"
        p = subprocess.Popen(_fit(folder, "run.name=stopped", *more), cwd=REPO, env=process_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None and _step(last) < 5:
            time.sleep(0.05)
        p.send_signal(signum)
        stopped = p.communicate(timeout=300)[1]
        full.wait(timeout=400)
    finally:
        full.kill()
    saved = _load(last) if last.is_file() else None
    resumed = subprocess.run(_fit(folder, "run.name=stopped", *more, "ckpt_path=last"), cwd=REPO, env=process_env(),
                             capture_output=True, text=True, timeout=400)
    return {"folder": folder, "rc": p.returncode, "stderr": stopped, "saved": saved, "full": full.returncode,
            "full_log": full_log.read_text(), "resumed": resumed}


@pytest.mark.slow
@pytest.mark.ahead(job=stop_and_resume)
@pytest.mark.parametrize("ddp", [False, True], ids=["single", "ddp2"])
def test_sigterm_saves_the_step_and_resume_matches_an_uninterrupted_run(ddp):
    if ddp and not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    job = ahead(stop_and_resume, ddp=ddp)
    folder = job["folder"]
    assert job["full"] == 0, job["full_log"][-3000:]
    assert job["rc"] == 143, job["stderr"][-3000:]
    step = job["saved"]["global_step"]
    per_epoch = STEPS_PER_EPOCH // (2 if ddp else 1)  # each rank takes half of every batch's epoch
    assert 5 <= step < 2 * per_epoch and step % per_epoch != 0  # a mid-epoch step
    stops = [ln for ln in job["stderr"].splitlines() if ln.startswith("lit_gen: stopped by SIGTERM")]
    assert stops == [f"lit_gen: stopped by SIGTERM at step {step}; saved {folder / 'stopped' / 'checkpoints' / 'last.ckpt'}"
                     f"; to resume, run the same command with ckpt_path=last run.name=stopped run.dir={folder}"]
    assert "Traceback" not in job["stderr"]

    r = job["resumed"]
    assert r.returncode == 0, r.stderr[-3000:]
    ref = _load(folder / "full" / "checkpoints" / "last.ckpt")
    out = _load(folder / "stopped" / "checkpoints" / "last.ckpt")
    assert out["global_step"] == ref["global_step"] == 2 * per_epoch
    for k, v in ref["state_dict"].items():
        torch.testing.assert_close(out["state_dict"][k], v, rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")


def test_sigint_is_ctrl_c_with_code_130(tmp_path, monkeypatch):
    """In this process: Ctrl-C (a SIGINT the run sends itself in its third step's hook) stops after that step."""
    from lit_gen.callbacks.graceful_stop import GracefulStop
    import lit_gen.run as run

    class CtrlCAtStep3(GracefulStop):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 3:
                os.kill(os.getpid(), signal.SIGINT)
            super().on_train_batch_end(trainer, *args)

    monkeypatch.setattr(run, "GracefulStop", CtrlCAtStep3)
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN under a shell's background job
    r = in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=c", "trainer.limit_train_batches=8"))
    assert r.returncode == 130
    last = tmp_path / "c" / "checkpoints" / "last.ckpt"
    assert r.stderr.strip().splitlines()[-1] == (f"lit_gen: stopped by SIGINT at step 3; saved {last}; to resume, run "
                                                 f"the same command with ckpt_path=last run.name=c run.dir={tmp_path}")
    assert _load(last)["global_step"] == 3
    assert signal.getsignal(signal.SIGINT) is before  # the handler the process had is back


# --- ranks started by torchrun ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_late_rank():
    folder = scratch("torchrun")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
           f"--master-port={_free_port()}", str(REPO / "tests" / "late_rank.py"),
           *small("vae", *DDP, f"run.dir={folder}", "logger.name=[csv,wandb]")]
    r = subprocess.run(cmd, cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=400)
    return folder, r


@pytest.mark.slow
@pytest.mark.ahead(job=torchrun_late_rank)
def test_torchrun_ranks_started_apart_share_one_run_folder():
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    folder, r = ahead(torchrun_late_rank)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [p for p in folder.iterdir()]
    assert len(runs) == 1, runs  # rank 1 started 1.5 s later, by its clock another default name
    run = runs[0]
    assert (run / "metrics.csv").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    assert _load(run / "checkpoints" / "last.ckpt")["global_step"] == 3
