"""The typed config schema.

The top level is fixed; ``model`` is typed per model by the registry (see
``lit_gen.config.load``), because each model has its own keys, and ``data`` holds one section per source that
has one, declared in the source's own module (``lit_gen.data.sources``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Literal, Optional

from lit_gen.bounds import bounded
from lit_gen.data import sources
from lit_gen.errors import UserError
from lit_gen.models.optim import OptimConfig


@dataclass
class DataBase:
    """The keys every source shares; ``DataConfig`` adds one section per source that has one (``data_config``)."""

    name: str = "scenes"
    root: str = "${oc.env:LIT_GEN_DATA,../shared/data}"
    batch_size: int = bounded(64, ge=1)
    image_size: int = bounded(32, ge=4)
    channels: Literal[1, 3] = 1
    num_workers: int = bounded(0, ge=0)
    val_fraction: float = bounded(0.1, ge=0, lt=1)
    binarize: Literal["dynamic", "static"] = "dynamic"  # binarized_mnist: redrawn each epoch | the Larochelle split
    # DC-IGN training batches: each varies one factor group (see lit_gen.data.factor_batches); val/test stay plain
    factor_batches: bool = False
    # one weight per factor group of the source (its declaration's factor_groups); null: the source's default
    # (lit_gen.data.sources.Source.default_odds), else equal odds
    factor_odds: Optional[list] = None
    # Ada-GVAE training batches: batch_size / 2 pairs, each pair two items that differ in this many factor groups
    # (drawn at random per pair; see lit_gen.data.factor_batches); 0: off
    factor_pairs: int = bounded(0, ge=0, note="(0: off)")

    def validate(self, root) -> None:
        src = sources.source(self.name)
        groups = src.factor_groups or None
        if self.factor_odds is not None:
            odds = list(self.factor_odds)
            if not all(isinstance(o, (int, float)) for o in odds):
                why = "must be a list of numbers"
            elif groups is not None and len(odds) != len(groups):
                why = f"needs one weight per factor group of data.name={self.name} ({', '.join(groups)})"
            elif any(o < 0 or o != o or o == float("inf") for o in odds) or sum(odds) <= 0:
                why = "weights must be >= 0 and not all 0"
            else:
                why = None
            if why:
                raise UserError(f"data.factor_odds={odds!r}: {why}")
        if self.factor_batches and self.factor_pairs:
            raise UserError(f"data.factor_pairs={self.factor_pairs} with data.factor_batches=true: a training batch is "
                            "either one-factor (DC-IGN) or pairs (Ada-GVAE); set one of them")
        if self.factor_pairs:
            if self.batch_size % 2:
                raise UserError(f"data.batch_size={self.batch_size}: data.factor_pairs needs an even batch size (pairs)")
            if groups is not None and self.factor_pairs > len(groups):
                raise UserError(f"data.factor_pairs={self.factor_pairs}: data.name={self.name} has only {len(groups)} "
                                f"factor groups ({', '.join(groups)})")
        if src.check is not None:  # before a run folder exists: the source's own rules and files
            src.check(self)


_built: dict = {}


def data_config() -> type:
    """The ``data`` section's dataclass: ``DataBase`` plus ``data.<section>`` of every declared source."""
    sections = sources.sections()
    if _built.get("version") != sources.version:
        data = make_dataclass("DataConfig", [(k, c, field(default_factory=c)) for k, c in sections.items()],
                              bases=(DataBase,))
        top = [(f.name, f.type, field(default=f.default, default_factory=f.default_factory))
               for f in dataclasses.fields(RootBase)]
        top.insert(1, ("data", data, field(default_factory=data)))
        root = make_dataclass("RootConfig", top)
        data.__module__ = root.__module__ = __name__
        _built.update(version=sources.version, data=data, root=root)
    return _built["data"]


def root_config() -> type:
    data_config()
    return _built["root"]


def __getattr__(name: str):
    # DataConfig and RootConfig follow the registered sources, so they are built when asked for
    if name == "DataConfig":
        return data_config()
    if name == "RootConfig":
        return root_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# lightning.Trainer arguments that lit_gen sets itself, and where the user sets them instead
TRAINER_ARGS_SET_BY_LIT_GEN = {
    "logger": "set by the logger section (logger.name=wandb|csv|none)",
    "callbacks": "lit_gen builds the callbacks (checkpoints, grids, metrics)",
    "default_root_dir": "the run folder is run.dir/run.name",
    "enable_checkpointing": "lit_gen always checkpoints (see run.ckpt_every_n_steps)",
}


@dataclass
class TrainerConfig:
    """Every ``lightning.Trainer`` argument but those in ``TRAINER_ARGS_SET_BY_LIT_GEN``, passed as keyword arguments.

    None means Lightning's own default (the key is not passed); the values set here are lit_gen's defaults.
    tests/test_config.py holds the field names against ``Trainer.__init__``'s signature.
    """

    accelerator: Any = "auto"
    strategy: Any = "auto"
    devices: Any = 1
    num_nodes: int = bounded(1, ge=1)
    precision: Any = "auto"  # bf16-mixed where the device has native bf16, else 32-true (lit_gen.fast_paths)
    fast_dev_run: Any = None
    max_epochs: Optional[int] = bounded(10, ge=-1, note="(-1 for no limit)")
    min_epochs: Optional[int] = None
    max_steps: int = bounded(-1, ge=-1, note="(-1 for no limit)")
    min_steps: Optional[int] = None
    max_time: Any = None
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    limit_predict_batches: Any = None
    overfit_batches: Any = None
    val_check_interval: Any = None
    check_val_every_n_epoch: Optional[int] = 1
    num_sanity_val_steps: Optional[int] = None
    log_every_n_steps: int = bounded(20, ge=1)
    enable_progress_bar: bool = True
    enable_model_summary: Optional[bool] = None
    accumulate_grad_batches: int = bounded(1, ge=1)
    gradient_clip_val: Optional[float] = None
    gradient_clip_algorithm: Optional[str] = None
    deterministic: Any = False
    benchmark: Optional[bool] = None
    inference_mode: Optional[bool] = None
    use_distributed_sampler: Optional[bool] = None
    profiler: Any = None  # simple | advanced | pytorch
    detect_anomaly: Optional[bool] = None
    barebones: Optional[bool] = None
    plugins: Any = None
    sync_batchnorm: Optional[bool] = None
    reload_dataloaders_every_n_epochs: Optional[int] = None
    enable_autolog_hparams: Optional[bool] = None
    model_registry: Optional[str] = None

    def validate(self, root) -> None:
        for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
            v = getattr(self, key)
            if not (v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
                    or (isinstance(v, float) and 0.0 <= v <= 1.0)):
                raise UserError(f"trainer.{key}={v!r}: must be a batch count (int) or a fraction in [0, 1]")
        # a field (stored run configs hold barebones: null), but Lightning refuses barebones mode beside the
        # loggers and checkpoints every lit_gen run has
        if self.barebones:
            raise UserError("trainer.barebones=true: lit_gen always logs and checkpoints, which Lightning's barebones "
                            "mode forbids (benchmarks/bench_overhead.py measures the trainer without them)")


LOGGER_NAMES = ("wandb", "tensorboard", "mlflow", "csv", "none")


@dataclass
class LoggerConfig:
    # one name or a list of wandb | tensorboard | mlflow | csv | none; <run>/metrics.csv is always written too
    name: Any = "wandb"
    project: str = "lit_gen"  # the W&B project, and the MLflow experiment
    mode: Literal["offline", "online"] = "offline"
    # W&B: the checkpoints as artifacts of the run (WandbLogger's log_model; offline they are synced with the run)
    log_model: bool = False
    entity: Optional[str] = None
    # MLflow's tracking URI; null: <run.dir>/mlruns, one local store for all runs (`mlflow ui --backend-store-uri ...`)
    mlflow_uri: Optional[str] = None

    def names(self) -> list:
        return [str(n) for n in self.name] if isinstance(self.name, (list, tuple)) else [str(self.name)]

    def validate(self, root) -> None:
        names = self.names()
        bad = [n for n in names if n not in LOGGER_NAMES]
        if bad or not names:
            raise UserError(f"logger.name={self.name!r}: choose one (or a list) of {', '.join(LOGGER_NAMES)}")
        for name, package, extra in (("tensorboard", "tensorboard", "tensorboard"), ("mlflow", "mlflow", "mlflow")):
            if name in names and importlib.util.find_spec(package) is None:
                raise UserError(f"logger.name={name} needs the {package} package: pip install -e \".[{extra}]\"")


@dataclass
class MetricsConfig:
    """Grids, sample quality (FID/IS/KID/blur, see ``lit_gen.metrics``) and IW-NLL."""

    every_n_epochs: int = bounded(1, ge=1)  # grids and sample metrics every n epochs (and always at the last one)
    num_samples: int = bounded(5000, ge=1)  # N for FID/IS/KID/blur: generated and real images (capped by the split)
    grid_size: int = bounded(64, ge=1)  # images per sample grid
    # the VAE family's samples are the decoder's mean; also score and draw draws from p(x|z) (under <stage>/draw/)
    draws: bool = True
    # FID/IS/KID features: domain (a net trained on the data's labels) | inception | none
    features: Literal["domain", "inception", "none"] = "domain"
    inception_weights: Optional[str] = None  # torch-fidelity Inception-v3 weights file (no download)
    cache_dir: Optional[str] = None  # default: $LIT_GEN_CACHE or ~/.cache/lit_gen (domain nets in features/)
    domain_epochs: int = bounded(2, ge=1)  # training epochs of the domain feature network
    # a domain feature network file (python -m lit_gen.features --export PATH) instead of the cache: one net for
    # runs on many machines
    domain_weights: Optional[str] = None
    # train it on at most this many images (None: the whole train split)
    domain_max_train: Optional[int] = bounded(None, ge=1, note="(or null for the whole training split)")
    # KID: mean over this many random subsets of min(1000, N) (torch-fidelity's default)
    kid_subsets: int = bounded(100, ge=1)
    # neighbours of improved precision / recall (Kynkäänniemi et al. 2019) and of density / coverage (Naeem et al.
    # 2020), on the FID features
    pr_k: int = bounded(3, ge=1)
    dc_k: int = bounded(5, ge=1)
    # importance samples of the IW-NLL (end of fit, evaluate); 5000 for final numbers; 0: off
    nll_k: int = bounded(100, ge=0, note="(0 turns the IW-NLL off)")
    nll_batch: int = bounded(1024, ge=1)  # decoded images per forward pass in the IW-NLL (bounds its memory)
    # FactorVAE score of rendered data (DC-IGN's validation, `disentangle`): batches of 64, 2/3 train its majority
    # vote, 1/3 test it (disentanglement_lib: 15,000); 0: off
    factor_vae_votes: int = bounded(90, ge=0, note="(0 turns the FactorVAE score off)")
    # held-out items of the disentanglement scores logged at validation (VAE family, data with factors); 0: off
    disentanglement_items: int = bounded(1000, ge=0, note="(0 turns the validation disentanglement scores off)")


@dataclass
class RunConfig:
    dir: str = "runs"
    name: Optional[str] = None  # default: <model>-<data>-<timestamp>
    group: Optional[str] = None  # W&B group; default: the model family (vae, gan, dcign, cvae, ...)
    tags: list = field(default_factory=list)  # extra W&B tags; data:<data.name> and model:<model.name> are always added
    # >0: also write checkpoints/last.ckpt every n training steps (preemption); 0: per epoch only
    ckpt_every_n_steps: int = bounded(0, ge=0, note="(0: checkpoint once per epoch only)")
    # the progress bar redraws at most this often (tqdm's own default): a redraw per batch is a visible share of a
    # small model's step (benchmarks/bench_overhead.py)
    progress_interval_s: float = bounded(0.1, ge=0, note="(0: redraw after every batch)")
    # a run.name that already holds a run is refused unless ckpt_path resumes it or this replaces it
    overwrite: bool = False
    # the module's weights in torch.channels_last; None: on for models with 2-D convolutions
    channels_last: Optional[bool] = None

    def validate(self, root) -> None:
        # the run folder is run.dir/run.name: a name with a path in it would put the run (and ckpt_path=last's
        # search) outside run.dir
        name = self.name
        if name is not None and (any(sep in str(name) for sep in ("/", "\\")) or str(name) in (".", "..")):
            raise UserError(f"run.name={name!r}: must be a folder name under run.dir, not a path; "
                            "set run.dir to choose where runs go")


@dataclass
class RootBase:
    """The top level but ``data`` (second in ``root_config``), whose sections come from the sources."""

    seed: int = 0
    model: Any = None  # typed per model by the registry
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    run: RunConfig = field(default_factory=RunConfig)
    ckpt_path: Optional[str] = None  # "last" or a path: resume
