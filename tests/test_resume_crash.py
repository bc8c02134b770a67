"""Resume after a crash: SIGKILL a training run mid-epoch, resume it with ckpt_path=last, compare with an
uninterrupted run (same final global_step, at most one checkpoint interval lost, same weights)."""

import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import REPO, ahead, process_env, scratch, small

EVERY = 5
# whole epochs (the resumed one starts mid-epoch), a step checkpoint every EVERY steps, deterministic kernels
TINY = small("vae", "data.scenes.num_train=640", "data.scenes.num_test=64", "data.batch_size=32",
             "trainer.limit_train_batches=null", "trainer.limit_val_batches=null", "trainer.max_epochs=2",
             f"run.ckpt_every_n_steps={EVERY}", "trainer.deterministic=true")


def _cmd(tmp_path, *args):
    return [sys.executable, "-m", "lit_gen.fit", *TINY, f"run.dir={tmp_path}", *args]


def _load(path):
    return torch.load(path, weights_only=True, map_location="cpu")


def _step(path):
    try:
        return _load(path)["global_step"]
    except Exception:  # noqa: BLE001 - not written yet (the atomic rename makes a half file impossible)
        return -1


def crash_and_resume():
    """An uninterrupted run, meanwhile on the other core, and a run killed with -9 once last.ckpt holds a mid-epoch
    step of the first epoch, then resumed; what they leave, for the test to judge."""
    tmp_path = scratch("resume_crash")
    full_log = tmp_path / "full.stderr"  # a file: a pipe nobody reads while we wait for the crash could stall it
    with full_log.open("w") as f:
        full = subprocess.Popen(_cmd(tmp_path, "run.name=full"), cwd=REPO, env=process_env(), stdout=subprocess.DEVNULL,
                                stderr=f)
    try:
        last = tmp_path / "crash" / "checkpoints" / "last.ckpt"
        p = subprocess.Popen(_cmd(tmp_path, "run.name=crash"), cwd=REPO, env=process_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        try:
            while time.time() < deadline and p.poll() is None and not (last.is_file() and _step(last) >= EVERY):
                time.sleep(0.05)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
        full.wait(timeout=300)
    finally:
        full.kill()  # a no-op once it has ended
    killed = p.returncode == -signal.SIGKILL
    saved = _load(last) if killed else None  # never a half-written file: Lightning saves atomically
    resumed = subprocess.run(_cmd(tmp_path, "run.name=crash", "ckpt_path=last"), cwd=REPO, env=process_env(),
                             capture_output=True, text=True, timeout=300) if killed else None
    return {"folder": tmp_path, "killed": killed, "saved": saved, "full": full.returncode,
            "full_log": full_log.read_text(), "resumed": resumed}


@pytest.mark.slow
@pytest.mark.ahead(job=crash_and_resume)
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run():
    job = ahead(crash_and_resume)
    tmp_path, last = job["folder"], job["folder"] / "crash" / "checkpoints" / "last.ckpt"
    assert job["killed"], "the run finished before it could be killed"
    saved_step = job["saved"]["global_step"]
    assert job["full"] == 0, job["full_log"][-3000:]
    ref = _load(tmp_path / "full" / "checkpoints" / "last.ckpt")
    steps_per_epoch = 640 * 9 // 10 // 32  # val_fraction 0.1, drop_last
    assert ref["global_step"] == 2 * steps_per_epoch
    assert EVERY <= saved_step < 2 * steps_per_epoch

    r = job["resumed"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert "not resumable" not in r.stderr  # Lightning's warning for a loader without state_dict
    out = _load(last)
    assert out["global_step"] == ref["global_step"] and out["epoch"] == ref["epoch"]
    # at most one checkpoint interval lost: the kill came after a mid-epoch save (a multiple of EVERY, not an epoch
    # end), and the resumed run restarted from exactly that save, so the steps lost are those since it (< EVERY)
    assert saved_step % EVERY == 0 and saved_step % steps_per_epoch != 0
    assert "Restoring states from the checkpoint path at" in r.stdout + r.stderr
    assert str(last) in r.stdout + r.stderr

    # deterministic: the data order (resumable sampler) and the model's noise (saved RNG) continue exactly
    for k, v in ref["state_dict"].items():
        torch.testing.assert_close(out["state_dict"][k], v, rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
