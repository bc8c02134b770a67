"""A resumed run keeps its history: metrics.csv rows, the wall time of every segment, the report's epochs, and a
W&B config equal to the resolved config."""

import csv
import json
import struct
import time

import yaml

from helpers import in_process, small
from lit_gen.tracking import loggers as L
from lit_gen.tracking.report import read_run


def wandb_offline_config(segment) -> dict:
    """The config a W&B offline run recorded: its .wandb file is a LevelDB-style log of protobuf Records."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = next(segment.glob("run-*.wandb")).read_bytes()
    block, pos, records, part = 32768, 7, [], b""  # 7: the ":W&B" header, magic and version
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            records.append(part + chunk)
            part = b""
        elif kind in (2, 3):
            part += chunk
    config = {}
    for raw in records:
        r = pb.Record()
        r.ParseFromString(raw)
        kind = r.WhichOneof("record_type")
        items = r.config.update if kind == "config" else r.run.config.update if kind == "run" else []
        config.update({it.key: json.loads(it.value_json) for it in items})
    config.pop("_wandb", None)
    return config


def training_epochs(rows) -> set:
    """The epochs of the rows that training logged (the test phase logs under the epoch after the last)."""
    return {r["epoch"] for r in rows if not any(v for k, v in r.items() if k.startswith("test/"))}


def test_resume_keeps_rows_wall_time_epochs_and_the_wandb_config(tmp_path):
    run = [*small("vae"), "trainer.log_every_n_steps=2", f"run.dir={tmp_path}", "run.name=r", "logger.name=wandb"]
    r = in_process("fit", *run, "trainer.max_epochs=1")
    assert r.returncode == 0, r.stderr[-2000:]
    folder = tmp_path / "r"
    first_rows = list(csv.DictReader((folder / "metrics.csv").open()))
    first_wall = json.loads((folder / "final_metrics.json").read_text())["wall_time_s"]
    first_config = yaml.safe_load((folder / "config.yaml").read_text())
    assert training_epochs(first_rows) == {"0"}

    time.sleep(1)  # W&B names a run's folder by the second it starts (see test_tracking)
    r = in_process("fit", *run, "trainer.max_epochs=2", "ckpt_path=last")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert len(rows) > len(first_rows) and training_epochs(rows) == {"0", "1"}
    for old, new in zip(first_rows, rows):  # the earlier rows, unchanged and first
        assert all(new[k] == v for k, v in old.items() if v != "")
    final = json.loads((folder / "final_metrics.json").read_text())
    assert final["wall_time_s"] > first_wall  # both segments
    epochs, values = read_run(folder).series("val/loss")
    assert len(values) == 2 and sorted(epochs) == sorted(set(epochs))

    segments = L.offline_runs(folder)
    assert len(segments) == 2
    assert wandb_offline_config(segments[0]) == first_config
    assert wandb_offline_config(segments[1]) == yaml.safe_load((folder / "config.yaml").read_text())
