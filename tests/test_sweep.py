"""Sweep files (W&B's schema, real metrics, commands that parse) and the local runner."""

import csv
import os
import re
import sys
import warnings
from pathlib import Path

import pytest

from helpers import REPO, in_process, small_overrides

ENGINE_MISSING = 'W&B sweep engine missing: python -m pip install --no-deps "sweeps==0.3.0"'
sweeps = pytest.importorskip("sweeps", reason=ENGINE_MISSING)
if not hasattr(sweeps, "SweepConfig"):  # the repository's own sweeps/ folder, imported as a namespace package
    pytest.skip(ENGINE_MISSING, allow_module_level=True)

from lit_gen import sweep as S  # noqa: E402
from lit_gen.config import load_config  # noqa: E402
from lit_gen.registry import MODELS  # noqa: E402

SWEEP_FILES = sorted((REPO / "sweeps").glob("*.yaml"))

# keys a lit_gen run ends with in final_metrics.json (and the W&B summary): the models' own
# val/ terms, the sample-quality callback's (X = domain | inception), the IW-NLL and DC-IGN's
# disentanglement metrics
LOGGED = re.compile(
    r"^val/(loss|elbo|kl|recon|loss_d|loss_g|d_real|d_fake|wdist)$"
    r"|^val/(fid|is|kid)_(domain|inception)$|^val/blur(_real|_ratio|_recon|_ratio_recon)?$|^test/nll(_bpd)?$"
    r"|^val/(mig|mig_extrinsic|spearman_(azimuth|elevation|light)|rerender_mse)$"  # DC-IGN's latent sweeps
    r"|^val/(modes_covered|hq_fraction)$"  # the toy densities' mode counts
)

# the trials' overrides: the small profile (its trials are real `python -m lit_gen.fit` processes)
TINY = small_overrides("vae")


def test_there_is_a_sweep_file_per_model_family():
    names = {p.stem for p in SWEEP_FILES}
    assert {"vae", "gan", "dcign"} <= names


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_sweep_file_is_valid_for_the_engine_and_the_runner(path):
    import yaml

    cfg = yaml.safe_load(path.read_text())
    assert S.schema_violations(cfg) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sweeps.SweepConfig(cfg)  # the engine's own model accepts it
    S.load_sweep(str(path))  # and the local runner: a command with ${args_no_hyphens}
    assert cfg["command"][:4] == ["${env}", "${interpreter}", "-m", "lit_gen.fit"]
    assert cfg["command"][-1] == "${args_no_hyphens}"


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_sweep_metric_is_one_a_run_really_logs(path):
    import yaml

    metric = yaml.safe_load(path.read_text()).get("metric", {}).get("name")
    assert metric and LOGGED.match(metric), (
        f"{path.name}: metric {metric!r} is not a key lit_gen runs log (e.g. val/elbo, val/loss_g, val/fid_domain)")


def _first_trial_command(path, extra=()):
    cfg = S.load_sweep(str(path))
    run = S.engine().next_run(cfg, [])
    params = S.trial_params(run)
    return cfg, params, S.build_command(cfg, params, list(extra))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_engine_proposals_parse_to_the_intended_config(path):
    cfg, params, command = _first_trial_command(path, ["run.name=t-001"])
    i = command.index("--config")
    config = REPO / command[i + 1]
    assert config.is_file(), f"{path.name} points at a missing config {command[i + 1]}"
    assert load_config(str(config)).model.name in MODELS
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        S.precheck(cfg, str(path), params, ["run.name=t-000"])  # every listed value of every parameter loads
        loaded = S.fit_config(command)
    finally:
        os.chdir(cwd)
    for key, value in params.items():
        got = loaded
        for part in key.split("."):
            got = got[part]
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, key
    assert loaded.run.name == "t-001"


def test_command_is_the_one_wandb_agent_builds():
    cfg = S.load_sweep(str(REPO / "sweeps" / "vae.yaml"))
    import numpy as np

    params = {"model.beta": np.float64(2.0), "model.latent_dim": 16, "trainer.max_epochs": 5,
              "model.widths": [8, 16, 16], "model.init_output_bias": True}
    command = S.build_command(cfg, params, ["run.name=x"])
    expected_args = ["model.beta=2.0", "model.latent_dim=16", "trainer.max_epochs=5", "model.widths=[8, 16, 16]",
                     "model.init_output_bias=True"]
    assert command == ["/usr/bin/env", sys.executable, "-m", "lit_gen.fit", "--config", "configs/vae.yaml",
                       *expected_args, "run.name=x"]
    # the agent's own expansion gives the same key=value strings
    utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
    agent = utils.create_sweep_command_args({"args": {k: {"value": S.plain(v)} for k, v in params.items()}})
    assert agent["args_no_hyphens"] == expected_args
    assert S.command_args({k: S.plain(v) for k, v in params.items()})["args"] == agent["args"]
    # and lit_gen.fit reads them as intended
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        loaded = S.fit_config(command)
    finally:
        os.chdir(cwd)
    assert loaded.model.beta == 2.0 and loaded.model.latent_dim == 16 and list(loaded.model.widths) == [8, 16, 16]
    assert loaded.model.init_output_bias is True and loaded.trainer.max_epochs == 5 and loaded.run.name == "x"


BAD = {
    "not_yaml.yaml": "method: [grid\n",
    "bad_method.yaml": "method: randm\nparameters:\n  model.beta:\n    values: [1, 2]\n",
    "no_args.yaml": "method: grid\nparameters:\n  model.beta:\n    values: [1, 2]\ncommand:\n  - python\n",
    "typo.yaml": ("method: grid\nparameters:\n  model.betta:\n    values: [1, 2]\ncommand:\n  - ${env}\n"
                  "  - ${interpreter}\n  - -m\n  - lit_gen.fit\n  - --config\n  - configs/vae.yaml\n"
                  "  - ${args_no_hyphens}\n"),
}


@pytest.mark.parametrize("name", sorted(BAD) + ["missing.yaml"])
def test_bad_sweep_file_is_one_line_exit_2(tmp_path, capsys, name, monkeypatch):
    monkeypatch.chdir(REPO)
    path = tmp_path / name
    if name in BAD:
        path.write_text(BAD[name])
    assert S.main([str(path), "--count", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(path) in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_random_search_needs_a_count(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert S.main(["sweeps/vae.yaml", "--out", str(tmp_path / "o")]) == 2
    assert "--count" in capsys.readouterr().err
    assert S.main(["sweeps/vae.yaml", "--count", "1", "model.beta=3"]) == 2
    assert "searched parameter" in capsys.readouterr().err


def test_local_sweep_runs_trials_records_a_failure_and_ranks(tmp_path, monkeypatch):
    """Two tiny trials of a grid: scenes (finishes) and mnist without files (fails fast); the sweep goes on."""
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(
        "name: tiny\nmethod: grid\nmetric:\n  name: val/elbo\n  goal: maximize\nparameters:\n"
        "  data.name:\n    values: [scenes, mnist]\n  trainer.max_epochs:\n    value: 3\n"
        "command:\n  - ${env}\n  - ${interpreter}\n  - -m\n  - lit_gen.fit\n  - --config\n  - configs/vae.yaml\n"
        "  - ${args_no_hyphens}\n")
    out = tmp_path / "out"
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the trials import this checkout's lit_gen
    r = in_process("sweep", sweep, "--out", out, *TINY, "trainer.max_epochs=1", f"data.root={tmp_path}/no-data")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [row["trial"] for row in rows] == ["tiny-trial-001", "tiny-trial-002"]  # best (the finished one) first
    ok, failed = rows
    assert ok["state"] == "finished" and float(ok["val/elbo"]) < 0 and ok["data.name"] == "scenes"
    assert ok["trainer.max_epochs"] == "1"  # the override of a constant parameter replaced it
    assert failed["state"] == "failed" and failed["exit_code"] == "2" and "no-data" in failed["note"]
    run = Path(ok["run_dir"])
    assert run == out / "tiny-trial-001" and (run / "final_metrics.json").is_file()
    assert "name: tiny-trial-001" in (run / "config.yaml").read_text()
    assert (out / "tiny-trial-002.log").read_text().startswith("$ /usr/bin/env ")
    # the printed table, best first, and the progress bar
    table = r.stdout[r.stdout.index("#  trial"):]
    assert table.index("tiny-trial-001") < table.index("tiny-trial-002")
    assert "sweep tiny" in r.stderr and "2/2" in r.stderr
