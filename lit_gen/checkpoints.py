"""Rebuild a lit_gen model from a checkpoint (its stored config + weights), for the evaluation commands."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lit_gen.errors import UserError


def load_model(ckpt_path: str, stage: str = "test"):
    """(model in eval mode, datamodule set up for ``stage``, cfg) from a lit_gen checkpoint.

    UserError (one line, naming ``--ckpt``) for a missing, unreadable or config-less file.
    """
    if not Path(ckpt_path).is_file():
        raise UserError(f"--ckpt {ckpt_path}: no such file")
    import torch

    from lit_gen.config import load_config
    from lit_gen.data.datamodule import GenerativeDataModule
    from lit_gen.registry import model_spec
    from lit_gen.run import build_data_spec, read_checkpoint_meta

    meta = read_checkpoint_meta(ckpt_path)
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), str):
        raise UserError(f"--ckpt {ckpt_path}: the checkpoint stores no config")
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "config.yaml"
        f.write_text(meta["config"])
        try:
            cfg = load_config(str(f), [])
        except UserError as e:
            raise UserError(f"--ckpt {ckpt_path} (stored config): {e}") from None
    dm = GenerativeDataModule(cfg.data)
    dm.setup(stage)
    model = model_spec(cfg.model.name).module_cls(cfg.model, cfg.optim, build_data_spec(dm))
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict(state)
    return model.eval(), dm, cfg
