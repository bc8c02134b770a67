"""Read lit_gen checkpoints safely and rebuild their models: the one path for resume and every evaluation command.

Checkpoints are read with ``torch.load(weights_only=True)``, so a pickle payload is refused, never run.
The config travels inside as YAML text (``checkpoint["lit_gen"]["config"]``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lit_gen.callbacks.run_metadata import CKPT_KEY
from lit_gen.errors import UserError


def read_checkpoint(path: str, label: str) -> dict:
    """The checkpoint dict; ``UserError`` starting with ``label`` for a missing, unreadable or foreign file."""
    if Path(path).is_dir():
        hint = Path(path) / "checkpoints" / "last.ckpt"
        raise UserError(f"{label}: a folder, not a checkpoint file" + (f"; e.g. {hint}" if hint.is_file() else ""))
    if not Path(path).is_file():
        raise UserError(f"{label}: no such file")
    import pickle
    import warnings

    import torch

    try:
        # a garbage file can start like a pickle of another protocol: torch warns about that before it fails,
        # and the warning would be a second line beside our one-line error
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        for w in seen:  # a file that did load: its warnings are still the user's to see
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's bad path
        if isinstance(e, pickle.UnpicklingError):  # torch's own text for it is a paragraph about weights_only
            raise UserError(f"{label}: not a readable lit_gen checkpoint (not a torch checkpoint, or one holding "
                            "objects other than tensors and plain values)") from None
        # torch's zip reader, on a file missing its end: "failed finding central directory"
        if isinstance(e, EOFError) or "central directory" in str(e):
            raise UserError(f"{label}: not a readable lit_gen checkpoint (the file is empty or cut short; "
                            "a run stopped while writing it? try the run's other checkpoints)") from None
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        raise UserError(f"{label}: not a readable lit_gen checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(ckpt, dict) or CKPT_KEY not in ckpt or "state_dict" not in ckpt:
        raise UserError(f"{label}: not a lit_gen checkpoint (no '{CKPT_KEY}' entry)")
    meta = ckpt[CKPT_KEY]
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), str) or not meta.get("model"):
        raise UserError(f"{label}: the '{CKPT_KEY}' entry has no stored config/model name")
    return ckpt


def config_from_checkpoint(ckpt: dict, overrides, path: str):
    """The stored (resolved) config with ``overrides`` on top, validated like ``fit``'s."""
    import warnings

    import yaml

    from lit_gen.config import load_config
    from lit_gen.config.load import drop_unknown_keys

    stored, dropped = drop_unknown_keys(yaml.safe_load(ckpt[CKPT_KEY]["config"]) or {})
    if dropped:  # options removed since the checkpoint was written
        warnings.warn(f"--ckpt {path}: its stored config sets {', '.join(dropped)}, which this lit_gen no longer "
                      "has; ignored", stacklevel=2)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "checkpoint-config.yaml"
        f.write_text(yaml.safe_dump(stored, sort_keys=False))
        try:
            return load_config(str(f), list(overrides))
        except UserError as e:
            raise UserError(str(e).replace(f"--config {f}", f"--ckpt {path} (stored config)")) from None


def load_model(ckpt_path: str, stage: str = "test", overrides=()):
    """(model in eval mode, datamodule set up for ``stage``, cfg, checkpoint dict) from a lit_gen checkpoint."""
    from lit_gen.data.datamodule import GenerativeDataModule
    from lit_gen.registry import build_model

    ckpt = read_checkpoint(ckpt_path, f"--ckpt {ckpt_path}")
    cfg = config_from_checkpoint(ckpt, overrides, ckpt_path)
    name = ckpt[CKPT_KEY]["model"]
    dm = GenerativeDataModule(cfg.data)
    dm.setup(stage)
    model = build_model(cfg, dm.spec())
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise UserError(f"--ckpt {ckpt_path}: its weights do not fit model.name={name} with the stored config "
                        f"(overrides that change the architecture are not allowed): {str(e).splitlines()[0][:160]}") from None
    return model.eval(), dm, cfg, ckpt


def eval_device(accelerator: str):
    """The device an evaluation runs on, by ``trainer.accelerator`` (``auto``: a GPU when there is one)."""
    import torch

    from lit_gen.fast_paths import uses_gpu

    return torch.device("cuda" if uses_gpu(accelerator) else "cpu")
