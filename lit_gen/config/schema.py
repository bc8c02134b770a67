"""The typed config schema.

The top level is fixed; ``model`` is typed per model by the registry (see
``lit_gen.config.load``), because each model has its own keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class ScenesConfig:
    """The embedded procedural data set (``data.name=scenes``)."""

    num_train: int = 20000
    num_test: int = 2000
    seed: int = 1234  # the data set's own seed: item i is the same whatever the training seed
    background: str = "plain"  # plain | textured


@dataclass
class FacesConfig:
    """Faces rendered from the Surrey Face Model (``data.name=faces``; the model file under ``<data.root>/sfm/``).

    Train, val and test draw their identities from three disjoint pools; item i of a split shows identity
    i mod (the split's identity count). Angles in degrees.
    """

    num_train: int = 20000
    num_val: int = 1000
    num_test: int = 1000
    train_identities: int = 2000
    val_identities: int = 500
    test_identities: int = 1000
    seed: int = 1234  # the data set's own seed
    identity_dims: int = 20  # K: the first K shape components are the identity factors id_0..id_{K-1}
    expressions: bool = False  # also the 6 expression blendshape weights, each uniform in [0, expression_max]
    expression_max: float = 1.0
    azimuth: list = field(default_factory=lambda: [-75.0, 75.0])
    elevation: list = field(default_factory=lambda: [-30.0, 30.0])
    light: list = field(default_factory=lambda: [-90.0, 90.0])  # light azimuth
    light_elevation: float = 20.0  # fixed
    ambient: float = 0.25
    specular: float = 0.0  # Blinn-Phong weight (0: Lambert + ambient only)


@dataclass
class ToyConfig:
    """The toy densities (``data.name=toy1d|ring8|grid25``); null means/stds/weights: the data set's own."""

    means: Any = None  # list of points (K, D); 1-D may be a flat list. ring8: radius 2; grid25: {-4..4 step 2}^2
    stds: Any = None  # one std for all modes, or K of them. ring8: 0.02, grid25: 0.05, toy1d: 0.5
    weights: Any = None  # K mixture weights (normalised); null: equal
    num_train: int = 20000  # train + val draws (split by data.val_fraction)
    num_test: int = 2500
    seed: int = 1234  # the data set's own seed
    # mode-coverage protocol (VEEGAN): samples scored, and samples within 3 std a mode needs to count as covered
    eval_samples: int = 2500
    min_count: int = 1


@dataclass
class DataConfig:
    name: str = "scenes"
    root: str = "${oc.env:LIT_GEN_DATA,../shared/data}"
    batch_size: int = 64
    image_size: int = 32
    channels: int = 1
    num_workers: int = 0
    val_fraction: float = 0.1
    binarize: str = "dynamic"  # binarized_mnist only: dynamic (redrawn each epoch) | static (Larochelle split)
    scenes: ScenesConfig = field(default_factory=ScenesConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    toy: ToyConfig = field(default_factory=ToyConfig)
    # DC-IGN training batches: each varies one factor group (see lit_gen.data.factor_batches); val/test stay plain
    factor_batches: bool = False
    factor_odds: list = field(default_factory=lambda: [1.0, 1.0, 1.0, 10.0])  # azimuth, elevation, light, intrinsic


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    # optional second optimizer's lr (GAN discriminator); None means same as lr
    lr_d: Optional[float] = None
    scheduler: str = "none"  # none | cosine | step
    cosine_epochs: Optional[int] = None  # cosine period in epochs; default trainer.max_epochs
    step_size: int = 30
    gamma: float = 0.1


@dataclass
class TrainerConfig:
    """Passed to ``lightning.Trainer`` as keyword arguments (None values are dropped)."""

    max_epochs: Optional[int] = 10
    max_steps: int = -1
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    val_check_interval: Any = None
    check_val_every_n_epoch: Optional[int] = 1
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Any = "32-true"
    log_every_n_steps: int = 20
    gradient_clip_val: Optional[float] = None
    accumulate_grad_batches: int = 1
    deterministic: Any = False
    enable_progress_bar: bool = True
    num_sanity_val_steps: Optional[int] = None


@dataclass
class LoggerConfig:
    name: str = "wandb"  # wandb | csv | none  (csv is always written too)
    project: str = "lit_gen"
    mode: str = "offline"  # offline | online
    entity: Optional[str] = None


@dataclass
class MetricsConfig:
    """Grids, sample quality (FID/IS/KID/blur, see ``lit_gen.metrics``) and IW-NLL."""

    every_n_epochs: int = 1  # grids and sample metrics every n epochs (and always at the last one)
    num_samples: int = 5000  # N for FID/IS/KID/blur: generated images and real images (capped by the split)
    grid_size: int = 64  # images per sample grid
    features: str = "domain"  # FID/IS/KID features: domain (trained on the data's labels) | inception | none
    inception_weights: Optional[str] = None  # torch-fidelity Inception-v3 weights file (no download)
    cache_dir: Optional[str] = None  # default: $LIT_GEN_CACHE or ~/.cache/lit_gen (domain nets in features/)
    domain_epochs: int = 2  # training epochs of the domain feature network
    domain_max_train: Optional[int] = None  # train it on at most this many images (None: the whole train split)
    kid_subsets: int = 100  # KID: mean over this many random subsets of min(1000, N) (torch-fidelity's default)
    nll_k: int = 100  # importance samples of the IW-NLL (end of fit, evaluate); 5000 for final numbers; 0: off
    nll_batch: int = 1024  # decoded images per forward pass in the IW-NLL (bounds its memory)


@dataclass
class RunConfig:
    dir: str = "runs"
    name: Optional[str] = None  # default: <model>-<data>-<timestamp>
    group: Optional[str] = None  # W&B group; default: the model family (vae, gan, dcign, cvae, ...)
    tags: list = field(default_factory=list)  # extra W&B tags; data:<data.name> and model:<model.name> are always added
    ckpt_every_n_steps: int = 0  # >0: also write checkpoints/last.ckpt every n training steps (preemption); 0: per epoch only


@dataclass
class RootConfig:
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = None  # typed per model by the registry
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    run: RunConfig = field(default_factory=RunConfig)
    ckpt_path: Optional[str] = None  # "last" or a path: resume
