"""The hardware's fast paths: ``trainer.precision: auto`` decided before Lightning starts (printed, stored in the
run's config; an explicit precision wins), channels-last for the conv nets, and metrics in fp32 whatever the
training precision."""

import pytest
import torch
import yaml

import lit_gen.fast_paths as fast_paths
from helpers import in_process, small


@pytest.fixture
def cpu_with(monkeypatch):
    """Pretend the CPU has exactly the flags given."""
    def pretend(*flags):
        monkeypatch.setattr(fast_paths, "cpu_flags", lambda: frozenset(flags))
    return pretend


def _trainer(precision, accelerator="cpu"):
    from omegaconf import OmegaConf

    return OmegaConf.create({"precision": precision, "accelerator": accelerator})


@pytest.mark.parametrize("flags, expected", [(("avx512f", "amx_bf16"), "bf16-mixed"), (("avx512_bf16",), "bf16-mixed"),
                                             (("avx512f", "avx2"), "32-true"), ((), "32-true")])
def test_auto_is_bf16_exactly_where_the_cpu_has_it(cpu_with, flags, expected):
    cpu_with(*flags)
    t = _trainer("auto")
    note = fast_paths.resolve_precision(t, conv=True)
    assert t.precision == expected
    assert note.startswith(f"precision {expected} (trainer.precision=auto: ")
    mlp = _trainer("auto")
    fast_paths.resolve_precision(mlp, conv=False)
    assert mlp.precision == "32-true"  # measured slower under bf16 (docs/performance.md)


def test_an_explicit_precision_wins(cpu_with):
    cpu_with("amx_bf16")
    for given in ("32-true", "16-mixed", "bf16-true", 64):
        t = _trainer(given)
        assert fast_paths.resolve_precision(t, conv=True) == "" and t.precision == given


def test_fit_prints_and_stores_the_choice_and_runs_channels_last(tmp_path, cpu_with):
    cpu_with("amx_bf16")
    r = in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=auto", "trainer.precision=auto"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "lit_gen: precision bf16-mixed (trainer.precision=auto: the CPU has amx_bf16)" in r.stdout
    stored = yaml.safe_load((tmp_path / "auto" / "config.yaml").read_text())
    assert stored["trainer"]["precision"] == "bf16-mixed" and stored["run"]["channels_last"] is True
    ckpt = torch.load(tmp_path / "auto" / "checkpoints" / "last.ckpt", weights_only=True)
    conv = next(v for v in ckpt["state_dict"].values() if v.dim() == 4 and v.shape[1] > 1)  # 1 channel: both layouts
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert conv.dtype == torch.float32  # mixed precision: the weights stay fp32

    r = in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=fp32", "run.channels_last=false"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "trainer.precision=auto" not in r.stdout  # the profile's explicit 32-true
    stored = yaml.safe_load((tmp_path / "fp32" / "config.yaml").read_text())
    assert stored["trainer"]["precision"] == "32-true" and stored["run"]["channels_last"] is False
    ckpt = torch.load(tmp_path / "fp32" / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(v.is_contiguous() for v in ckpt["state_dict"].values())


def test_mlp_models_stay_fp32_and_contiguous(tmp_path, cpu_with):
    cpu_with("amx_bf16")
    r = in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=mlp", "model.net=mlp", "trainer.precision=auto"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "precision 32-true (trainer.precision=auto: no convolutions in the model" in r.stdout
    stored = yaml.safe_load((tmp_path / "mlp" / "config.yaml").read_text())
    assert stored["run"]["channels_last"] is False and stored["trainer"]["precision"] == "32-true"


def test_metrics_compute_in_fp32_inside_a_bf16_autocast(tmp_path):
    """The IW-NLL and the sample-quality panel give the same numbers inside a bf16 autocast region (where a
    ``bf16-mixed`` run's steps are) as outside it."""
    from lit_gen.checkpoints import load_model
    from lit_gen.metrics.likelihood import iw_nll
    from lit_gen.metrics.sample_quality import SampleQuality, measure

    assert in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=m")).returncode == 0
    model, dm, cfg, _ = load_model(str(tmp_path / "m" / "checkpoints" / "last.ckpt"))
    test = dm.splits.test

    def both():
        nll = iw_nll(model, test, 20, max_items=16, progress=False)["test/nll"]
        q = SampleQuality(None, seed=0)
        panel = measure(model, test, q, 32, prefix="test", seed=0, progress=False)
        return nll, panel

    nll, panel = both()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nll_bf16, panel_bf16 = both()
        probe = model.decoder(torch.zeros(1, model.model_cfg.latent_dim))
    assert probe.dtype == torch.bfloat16  # the region does autocast the model's own calls
    assert nll_bf16 == nll
    assert panel_bf16 == panel
