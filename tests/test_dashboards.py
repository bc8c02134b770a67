"""TensorBoard and MLflow beside W&B: `logger.name` takes a list, and each dashboard's own reader finds the
scalars, the config and the images of a VAE run and a GAN run."""

import pytest

from helpers import in_process, small

pytest.importorskip("tensorboard", reason='TensorBoard missing: pip install -e ".[tensorboard]"')
pytest.importorskip("mlflow", reason='MLflow missing: pip install -e ".[mlflow]"')


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboards")
    for family in ("vae", "gan"):
        r = in_process("fit", *small(family, "logger.name=[tensorboard,mlflow]", "trainer.max_epochs=2",
                                     f"run.dir={root}", f"run.name={family}"))
        assert r.returncode == 0, r.stderr[-3000:]
    return root


def test_tensorboard_event_files_hold_the_scalars_images_and_config(two_runs):
    from lightning.pytorch.core.saving import load_hparams_from_yaml
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for family, scalar in (("vae", "val/elbo"), ("gan", "val/loss_d")):
        folder = two_runs / family / "tensorboard"
        events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
        events.Reload()
        tags = events.Tags()
        assert scalar in tags["scalars"]
        assert len(events.Scalars(scalar)) == 2  # one per validation epoch
        assert "images/samples" in tags["images"]
        assert events.Images("images/samples")[-1].width > 0
        config = load_hparams_from_yaml(str(folder / "hparams.yaml"))
        assert config["model"]["name"] == family and config["data"]["name"] == "scenes"


def test_mlflow_store_holds_both_runs_with_scalars_params_and_images(two_runs, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient((two_runs / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("lit_gen").experiment_id])
    by_model = {r.data.tags["model"]: r for r in runs}
    assert sorted(by_model) == ["gan", "vae"]  # one store, the two runs side by side
    for family, scalar in (("vae", "val/elbo"), ("gan", "val/loss_d")):
        run = by_model[family]
        assert scalar in run.data.metrics and len(client.get_metric_history(run.info.run_id, scalar)) == 2
        assert run.data.params["model/name"] == family and run.data.params["data/name"] == "scenes"
        assert run.data.tags["group"] == family and run.info.run_name == family
        images = [a.path for a in client.list_artifacts(run.info.run_id, "images/samples")]
        assert images and all(p.endswith(".png") for p in images)


def test_an_unknown_or_missing_dashboard_is_one_line(monkeypatch):
    import importlib.util

    r = in_process("fit", *small("vae", "logger.name=[tensorboard,mlfow]"))
    assert r.returncode == 2 and "logger.name=" in r.stderr and "choose one (or a list) of" in r.stderr
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    r = in_process("fit", *small("vae", "logger.name=mlflow"))
    assert r.returncode == 2 and 'needs the mlflow package: pip install -e ".[mlflow]"' in r.stderr


def test_tensorboard_hparams_tab_holds_the_config_and_final_metrics(two_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(two_runs / "vae" / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")
    records = [plugin_data_pb2.HParamsPluginData.FromString(c) for c in content.values()]
    experiment = next(r.experiment for r in records if r.HasField("experiment"))
    session = next(r.session_start_info for r in records if r.HasField("session_start_info"))
    assert session.hparams["model/name"].string_value == "vae"
    assert "data/scenes/num_train" in session.hparams and not any(k.startswith("data/faces/") for k in session.hparams)
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert {"final/val/elbo", "final/test/elbo", "final/wall_time_s"} <= metrics
    assert not any(m.startswith("final/train/") for m in metrics)  # step-based values are no final result
    assert "final/val/elbo" in events.Tags()["scalars"]  # the values the tab shows


def test_a_resumed_run_continues_its_mlflow_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    run = small("vae", "logger.name=mlflow", f"run.dir={tmp_path}", "run.name=r")
    assert in_process("fit", *run, "trainer.max_epochs=1").returncode == 0
    r = in_process("fit", *run, "trainer.max_epochs=2", "ckpt_path=last")
    assert r.returncode == 0, r.stderr[-2000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient((tmp_path / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("lit_gen").experiment_id])
    assert len(runs) == 1  # one run, not one per segment
    history = client.get_metric_history(runs[0].info.run_id, "val/elbo")
    assert len(history) == 2 and runs[0].data.params["trainer/max_epochs"] == "1"  # the config first logged
