"""What is checked before a face is rendered: the model files, eos-py and the ``data.faces`` settings.

No torch here: the config loader runs these checks before a run folder exists, in about a second.
"""

from __future__ import annotations

from pathlib import Path

from lit_gen.errors import UserError

SHAPE_FILE = "sfm_shape_3448.bin"
BLENDSHAPE_FILE = "expression_blendshapes_3448.bin"
SUBDIR = "sfm"
_WHERE = ("the Surrey Face Model is in the eos project's share/ folder (github.com/patrikhuber/eos); "
          "its license allows non-commercial use only, so lit_gen does not ship it")


def model_dir(root) -> Path:
    return Path(str(root)).expanduser() / SUBDIR


def import_eos():
    try:
        import eos  # noqa: F401
    except ImportError:
        raise UserError('data.name=faces reads the Surrey Face Model with eos-py, which is not installed: '
                        'pip install -e ".[faces]"  (or: pip install eos-py)') from None
    return eos


def check_available(root) -> None:
    """UserError naming the path when a model file is missing, or the install hint without eos-py (reads nothing)."""
    folder = model_dir(root)
    for name in (SHAPE_FILE, BLENDSHAPE_FILE):
        path = folder / name
        if not path.is_file():
            raise UserError(f"data.name=faces: no face model at {path} (data.root={root}); {_WHERE}")
    import_eos()


def check_settings(cfg) -> None:
    """UserError, naming the key, for ``data.faces`` settings the renderer cannot honour (the config's bounds hold
    the counts)."""
    if cfg.image_size < 16:
        raise UserError(f"data.image_size={cfg.image_size}: faces needs images of at least 16 px")
    fc = cfg.faces
    limits = {"azimuth": 90.0, "elevation": 90.0, "light": 180.0}
    for key, limit in limits.items():
        r = list(getattr(fc, key))
        if len(r) != 2 or not -limit <= r[0] < r[1] <= limit:
            raise UserError(f"data.faces.{key}={r}: expected [low, high] degrees with "
                            f"-{limit:g} <= low < high <= {limit:g}")
    if not -90.0 <= fc.light_elevation <= 90.0:
        raise UserError(f"data.faces.light_elevation={fc.light_elevation}: expected degrees in [-90, 90]")
    for key in ("ambient", "specular"):
        if not 0.0 <= getattr(fc, key) <= 1.0:
            raise UserError(f"data.faces.{key}={getattr(fc, key)}: expected a weight in [0, 1]")
    if fc.expression_max <= 0:
        raise UserError(f"data.faces.expression_max={fc.expression_max}: must be positive")
