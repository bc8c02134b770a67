"""Resume after a crash: SIGKILL a training run mid-epoch, resume it with ckpt_path=last, compare with an
uninterrupted run (same final global_step, at most one checkpoint interval lost, same weights)."""

import os
import signal
import subprocess
import sys
import time

import torch

from conftest import REPO

EVERY = 5
TINY = ["data.scenes.num_train=640", "data.scenes.num_test=64", "data.batch_size=32", "model.widths=[8,16,16]",
        "metrics.features=none", "metrics.nll_k=0", "metrics.grid_size=4", "metrics.num_samples=16",
        "logger.name=csv", "trainer.max_epochs=2", f"run.ckpt_every_n_steps={EVERY}", "trainer.deterministic=true",
        "trainer.enable_progress_bar=false"]


def _cmd(tmp_path, *args):
    return [sys.executable, "-m", "lit_gen.fit", "--config", "configs/vae.yaml", *TINY, f"run.dir={tmp_path}", *args]


def _env():
    env = dict(os.environ, PYTHONPATH=str(REPO), WANDB_MODE="offline", OMP_NUM_THREADS="1")
    env.pop("LIT_GEN_RUN_DIR", None)
    return env


def _load(path):
    return torch.load(path, weights_only=True, map_location="cpu")


def _step(path):
    try:
        return _load(path)["global_step"]
    except Exception:  # noqa: BLE001 - not written yet (the atomic rename makes a half file impossible)
        return -1


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    full = subprocess.run(_cmd(tmp_path, "run.name=full"), cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]
    ref = _load(tmp_path / "full" / "checkpoints" / "last.ckpt")
    steps_per_epoch = 640 * 9 // 10 // 32  # val_fraction 0.1, drop_last
    assert ref["global_step"] == 2 * steps_per_epoch

    # the crash: kill -9 once last.ckpt holds a mid-epoch step of the first epoch
    last = tmp_path / "crash" / "checkpoints" / "last.ckpt"
    p = subprocess.Popen(_cmd(tmp_path, "run.name=crash"), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and p.poll() is None and not (last.is_file() and _step(last) >= EVERY):
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    saved = _load(last)  # never a half-written file: Lightning saves atomically
    saved_step = saved["global_step"]
    assert EVERY <= saved_step < 2 * steps_per_epoch

    r = subprocess.run(_cmd(tmp_path, "run.name=crash", "ckpt_path=last"), cwd=REPO, env=_env(),
                       capture_output=True, text=True, timeout=300)
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
