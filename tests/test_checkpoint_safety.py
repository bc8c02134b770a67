"""Checkpoints are read with weights_only=True: a pickle payload is refused, not run."""

import pickle

import pytest
import torch

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
