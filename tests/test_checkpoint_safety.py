"""Checkpoints are read with weights_only=True: a pickle payload is refused, not run."""

import pickle

import pytest
import torch

from helpers import REPO
from lit_gen.errors import UserError
from lit_gen.run import read_checkpoint_meta


class Payload:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    torch.save({"lit_gen": {"config": "", "model": "vae"}, "state_dict": {}, "x": Payload()}, path)
    with pytest.raises(UserError, match="not a readable lit_gen checkpoint"):
        read_checkpoint_meta(str(path))
    assert not (tmp_path / "PWNED").exists()


def test_corrupt_and_foreign_checkpoints(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="junk.ckpt"):
        read_checkpoint_meta(str(junk))
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(UserError, match="not a lit_gen checkpoint"):
        read_checkpoint_meta(str(foreign))
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(UserError):
        read_checkpoint_meta(str(plain))


def test_a_stored_config_with_a_removed_option_still_loads_with_a_warning():
    """A checkpoint's config is written by lit_gen: an unknown key there is an option removed since, not a typo."""
    import yaml

    from lit_gen.checkpoints import config_from_checkpoint
    from lit_gen.config import config_to_yaml, load_config
    from lit_gen.config.load import drop_unknown_keys

    stored = yaml.safe_load(config_to_yaml(load_config(str(REPO / "configs" / "dcign.yaml"))))
    stored["data"]["scenes"]["marker_scale"] = 2.0  # an option this lit_gen does not have
    stored["model"]["old_knob"] = 1
    pruned, dropped = drop_unknown_keys(stored)
    assert dropped == ["data.scenes.marker_scale", "model.old_knob"] and "marker_scale" not in pruned["data"]["scenes"]
    assert pruned["model"]["factor_latents"] == stored["model"]["factor_latents"]  # a dict field is not pruned
    with pytest.warns(UserWarning, match=r"--ckpt x.ckpt: its stored config sets data.scenes.marker_scale, "
                                         r"model.old_knob, which this lit_gen no longer has; ignored"):
        cfg = config_from_checkpoint({"lit_gen": {"config": yaml.safe_dump(stored)}}, [], "x.ckpt")
    assert cfg.model.name == "dcign" and cfg.data.scenes.num_train == stored["data"]["scenes"]["num_train"]


def test_folder_empty_and_cut_short_checkpoints_say_which(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(b"")
    with pytest.raises(UserError, match=r"a folder, not a checkpoint file; e.g. .*last.ckpt$"):
        read_checkpoint_meta(str(run))
    with pytest.raises(UserError, match="empty or cut short"):
        read_checkpoint_meta(str(last))
    whole = tmp_path / "whole.ckpt"
    torch.save({"lit_gen": {"config": "", "model": "vae"}, "state_dict": {"w": torch.zeros(1000)}}, whole)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UserError) as e:
        read_checkpoint_meta(str(cut))
    assert "cut.ckpt: not a readable lit_gen checkpoint (the file is empty or cut short" in str(e.value)
    assert "\n" not in str(e.value)
