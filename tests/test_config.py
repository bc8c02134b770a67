"""Config parsing and the one-line errors users see."""

import pytest
from omegaconf import OmegaConf

from lit_gen.config import load_config
from lit_gen.errors import UserError
from lit_gen.fit import main

VAE = "configs/vae.yaml"


def test_defaults_and_overrides_merge():
    cfg = load_config(VAE, ["model.latent_dim=7", "trainer.max_epochs=3", "data.name=mnist"])
    assert cfg.model.latent_dim == 7 and cfg.trainer.max_epochs == 3 and cfg.data.name == "mnist"
    # schema defaults fill what the file leaves out
    assert cfg.model.mc_samples == 1 and cfg.logger.mode == "offline"


def test_interpolated_root_is_resolved(monkeypatch):
    monkeypatch.setenv("LIT_GEN_DATA", "/somewhere/data")
    assert load_config(VAE).data.root == "/somewhere/data"


def test_override_types_are_converted():
    cfg = load_config(VAE, ["optim.lr=0.01", "trainer.limit_train_batches=5"])
    assert cfg.optim.lr == pytest.approx(0.01)
    assert cfg.trainer.limit_train_batches == 5


@pytest.mark.parametrize(
    "override, expected",
    [
        ("data.foo=1", "unknown key 'data.foo'"),
        ("model.latnt_dim=3", "unknown key 'model.latnt_dim'"),
        ("data.batch_size=0", "data.batch_size=0"),
        ("data.batch_size=abc", "data.batch_size"),
        ("optim.lr=-1", "optim.lr=-1.0"),
        ("model.name=nope", "unknown model; choose one of"),
        ("data.name=nope", "choose one of binarized_mnist, celeba, cifar10, faces, fashion_mnist, folder, grid25, mnist, ring8, scenes, sprites, toy1d"),
        ("data.image_size=30", "data.image_size=30: the conv net needs a power of two"),
        ("data.channels=2", "data.channels=2"),
        ("logger.name=tensorboardx", "logger.name"),
        ("model.likelihood=poisson", "model.likelihood='poisson'"),
        ("trainer.limit_train_batches=1.5", "trainer.limit_train_batches"),
        ("justgarbage", "expected key=value"),
        # a plain value where the config has a section: OmegaConf's own error names neither
        ("logger=none", "logger='none': 'logger' is a section, not a value"),
        ("data.scenes=1", "data.scenes=1: 'data.scenes' is a section"),
        ("model=gan", "model='gan': 'model' is a section, not a value; set model.name"),
        # the run folder is run.dir/run.name: a path there would write outside run.dir
        ("run.name=../../etc", "run.name='../../etc': must be a folder name under run.dir"),
        ("run.name=a/b", "run.name='a/b'"),
    ],
)
def test_bad_values_name_the_key(override, expected):
    with pytest.raises(UserError) as e:
        load_config(VAE, [override])
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


def test_a_value_for_a_section_in_the_file_names_the_key(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model:\n  name: gan\nlogger: none\n")
    with pytest.raises(UserError, match=r"^logger='none': 'logger' is a section.*keys: name, project"):
        load_config(str(cfg))


def test_mlp_allows_any_image_size():
    assert load_config(VAE, ["model.net=mlp", "data.image_size=28"]).data.image_size == 28


def test_missing_and_non_yaml_config_files(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(UserError, match="not a valid YAML config"):
        load_config(str(bad))
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(UserError, match="top level must be a mapping"):
        load_config(str(scalar))


def test_cli_prints_one_line_and_exits_2(capsys):
    assert main(["--config", VAE, "data.batch_size=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data.batch_size=0") and err.count("\n") == 1 and "Traceback" not in err


def test_cli_print_config_round_trips(capsys):
    assert main(["--config", VAE, "--print-config", "model.latent_dim=5"]) == 0
    printed = OmegaConf.create(capsys.readouterr().out)
    assert printed.model.latent_dim == 5 and printed.data.name == "scenes"


def test_cli_help_lists_sections(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for section in ("seed", "data", "model", "optim", "trainer", "logger", "metrics", "run", "ckpt_path"):
        assert f"\n  {section}" in out


def test_cosine_period_can_outlast_max_epochs():
    """optim.cosine_epochs: a run cut to fewer epochs follows the first epochs of the longer schedule."""
    import math

    import torch

    from lit_gen.models.optim import OptimConfig, build_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, OptimConfig(scheduler="cosine", cosine_epochs=10), max_epochs=4)
    for _ in range(4):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 10)))
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = build_scheduler(opt2, OptimConfig(scheduler="cosine", cosine_epochs=None), max_epochs=4)
    for _ in range(4):
        opt2.step()
        sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_adam_is_fused_where_torch_has_the_kernel_and_takes_the_same_steps():
    import copy

    import torch

    from lit_gen.models.optim import OptimConfig, build_optimizer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.Tanh(), torch.nn.Linear(30, 5))
    x, y = torch.randn(64, 20), torch.randn(64, 5)
    finals = {}
    assert OptimConfig().fused is False  # torch's own loop unless a config asks
    for fused in (True, False):
        for name in ("adam", "adamw"):
            model = copy.deepcopy(net)
            opt = build_optimizer(model.parameters(), OptimConfig(name=name, eps=1e-4, weight_decay=1e-2, fused=fused))
            assert opt.defaults["fused"] is (True if fused else None)  # None: torch's per-tensor default
            for _ in range(50):
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                opt.step()
            finals[fused, name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    for name in ("adam", "adamw"):  # the same update to float rounding
        assert torch.allclose(finals[True, name], finals[False, name], atol=1e-5, rtol=0)
        start = torch.cat([p.detach().flatten() for p in net.parameters()])
        assert (finals[True, name] - start).abs().max() > 1e-2  # and it did train
    # no fused kernel for integer tensors or devices torch lacks it for: the default loop
    meta = torch.nn.Parameter(torch.zeros(3, device="meta"))
    assert not build_optimizer([meta], OptimConfig(fused=True)).defaults["fused"]


def test_a_name_stays_the_text_typed():
    """YAML 1.1 reads off/yes as booleans and 1e3 as a float; a run name is a folder name, kept as typed."""
    for typed in ("off", "yes", "1e3", "007"):
        assert load_config("configs/vae.yaml", [f"run.name={typed}"]).run.name == typed
    assert load_config("configs/vae.yaml", ["run.name=null"]).run.name is None
    assert load_config("configs/vae.yaml", ["logger.project=on"]).logger.project == "on"
