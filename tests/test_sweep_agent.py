"""The ``wandb agent`` contract, without a W&B server: the agent's own command expansion of every sweep file, and
a trial started with the agent's environment logs online, under the agent's run id, the sweep's metric at every
validation and in the summary; without a key it stops with one line. Plus the local runner without its engine."""

import csv
import os
import sys
import types

import pytest
import yaml
from omegaconf import OmegaConf

from helpers import REPO, ahead, in_process, process_env, python_m, scratch, small, small_overrides
from lit_gen.config import load_config

utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
SWEEP_FILES = sorted((REPO / "sweeps").glob("*.yaml"))


def first_values(sweep: dict) -> dict:
    return {k: (spec["values"][0] if "values" in spec else spec.get("value", spec.get("min")))
            for k, spec in sweep["parameters"].items()}


def agent_command(sweep: dict, params: dict) -> list:
    """The command line ``wandb agent`` runs for a trial (wandb/wandb_agent.py, ``Agent._command_run``): the same
    wandb functions, and its loop over the ``${...}`` macros."""
    command = utils.create_sweep_command(sweep.get("command"))
    macros = utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    macros.update(interpreter=["python"], program=[sweep["program"]], env=["/usr/bin/env"])
    out = []
    for chunk in map(str, command):
        out += (macros.get(chunk[2:-1]) or []) if chunk.startswith("${") and chunk.endswith("}") else [chunk]
    return out


@pytest.mark.parametrize("path", SWEEP_FILES, ids=[p.stem for p in SWEEP_FILES])
def test_the_agent_expands_each_sweep_file_into_a_valid_fit_command(path, monkeypatch):
    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] == "lit_gen.fit" and sweep["project"] == "lit_gen"
    command = agent_command(sweep, first_values(sweep))
    assert command[:4] == ["/usr/bin/env", "python", "-m", "lit_gen.fit"], command
    args = command[4:]
    config = args[args.index("--config") + 1]
    overrides = [a for a in args if "=" in a]
    assert len(overrides) == len(sweep["parameters"])
    monkeypatch.chdir(REPO)
    cfg = load_config(config, overrides)
    for key, value in first_values(sweep).items():
        assert OmegaConf.select(cfg, key) == value, key  # nested (model.beta) or top-level (seed)


@pytest.fixture
def agent_env(tmp_path, monkeypatch):
    """What ``wandb agent`` sets for a trial, and a key; W&B's init recorded and run disabled (no server)."""
    import wandb

    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep42")
    monkeypatch.setenv("WANDB_RUN_ID", "trial7")
    params = tmp_path / "config-trial7.yaml"  # the agent writes the trial's parameters there; wandb.init reads it
    params.write_text(yaml.safe_dump({"model.beta": {"value": 0.5}}))
    monkeypatch.setenv("WANDB_SWEEP_PARAM_PATH", str(params))
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    record = {"init": [], "logged": []}
    real_init = wandb.init

    def stand_in(**kwargs):
        record["init"].append({**kwargs, "mode": os.environ.get("WANDB_MODE")})
        run = real_init(mode="disabled", id=kwargs.get("id"), project=kwargs.get("project"))
        log = run.log
        run.log = lambda data, *a, **k: (record["logged"].append(dict(data)), log(data, *a, **k))[1]
        record["run"] = run
        return run

    monkeypatch.setattr(wandb, "init", stand_in)
    yield record
    wandb.teardown()  # W&B's process-wide settings hold this trial's env; the next test's run must not inherit them


def test_an_agent_trial_logs_online_under_the_agents_run_id_and_reports_the_metric(agent_env, tmp_path):
    sweep = yaml.safe_load((REPO / "sweeps" / "vae.yaml").read_text())
    metric = sweep["metric"]["name"]
    command = agent_command(sweep, first_values(sweep))
    # the trial's own arguments, then a small run ("logger.name=csv" in the profile: the agent overrides it)
    r = in_process("fit", *command[4:], *small_overrides("vae", "trainer.max_epochs=2", f"run.dir={tmp_path}"))
    assert r.returncode == 0, r.stderr[-2000:]
    [init] = agent_env["init"]
    assert init["mode"] == "online" and init["id"] == "trial7" and init["resume"] == "allow"
    validations = [d for d in agent_env["logged"] if metric in d]
    assert len(validations) == 2  # every validation epoch, under exactly the sweep's key
    assert metric in agent_env["run"].summary


def test_an_agent_trial_without_a_key_stops_with_one_line(agent_env, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    r = in_process("fit", "--config", "configs/vae.yaml", *small_overrides("vae", f"run.dir={tmp_path}"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    assert "launched by wandb agent (WANDB_SWEEP_ID=sweep42)" in lines[0] and "wandb login" in lines[0]
    assert not agent_env["init"] and not any(tmp_path.glob("vae-*"))  # nothing started, no run folder


def test_the_local_runner_without_its_engine_says_how_to_install_it(monkeypatch):
    """From the repository root, `import sweeps` finds the project's sweeps/ folder (a namespace package)."""
    shadow = types.ModuleType("sweeps")
    shadow.__path__ = [str(REPO / "sweeps")]
    monkeypatch.setitem(sys.modules, "sweeps", shadow)
    r = in_process("sweep", "sweeps/vae.yaml", "--count", "1")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    assert "W&B's sweep engine" in lines[0] and 'pip install --no-deps "sweeps==0.3.0"' in lines[0]


def ddp_agent_trial():
    """A 2-process DDP trial with the agent's environment (W&B forced offline: no server here)."""
    folder = scratch("ddp_agent")
    params = folder / "config-trial9.yaml"
    params.write_text("model.beta:\n  value: 0.5\n")
    env = process_env(WANDB_SWEEP_ID="sweep42", WANDB_RUN_ID="trial9", WANDB_SWEEP_PARAM_PATH=str(params),
                      WANDB_API_KEY="x" * 40, WANDB_MODE="offline")
    args = small("vae", "trainer.num_sanity_val_steps=0", "trainer.devices=2", "trainer.strategy=ddp",
                 "run.name=trial", f"run.dir={folder}")
    return folder, python_m("lit_gen.fit", *args, env=env, timeout=400)


@pytest.mark.slow
@pytest.mark.ahead(job=ddp_agent_trial)
def test_a_ddp_trial_is_one_wandb_run_one_folder_and_reports_once():
    folder, r = ahead(ddp_agent_trial)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "the sweep will not see this trial" in r.stderr  # WANDB_MODE=offline: said, not silent
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["trial"]  # one run folder for both ranks
    runs = list((folder / "trial" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and runs[0].name.endswith("-trial9"), runs  # one W&B run, under the agent's id
    rows = list(csv.DictReader((folder / "trial" / "metrics.csv").open()))
    assert sum(1 for row in rows if row.get("val/elbo")) == 1  # one validation, reported once
