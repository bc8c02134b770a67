"""The GAN (Goodfellow et al. 2014) with DCGAN (or MLP) networks, trained by manual optimization.

One training batch = one discriminator step. After every ``model.n_critic``-th
discriminator step the same batch also makes one generator step. Each step draws
its own z. Images are mapped from [0, 1] to [-1, 1] here, and back for ``sample``;
vector data (the toy densities, ``model.net=mlp``) are used as they are. ``model.loss=fgan_<divergence>``
trains the f-GAN (Nowozin et al. 2016) on the same nets and steps: :mod:`lit_gen.models.gan.fdivergences`.

What ``trainer.global_step`` means here
---------------------------------------
Lightning counts every ``LightningOptimizer.step()`` in manual optimization, so with
two optimizers its global_step would count G and D steps together (Lightning #17958).
Here **global_step counts generator steps**, as GAN papers count iterations:
``trainer.max_steps=N`` stops after N generator updates (N * n_critic batches). The
generator steps through ``self.optimizers()`` (so Lightning counts them, and
checkpoints and schedulers see both optimizers, Lightning #17281); the discriminator
steps through the same strategy and precision path (``strategy.optimizer_step``,
which runs the ``on_before_optimizer_step`` hooks and AMP scaling) but is not counted.
The discriminator's count is the ``num_d_steps`` buffer (in checkpoints, so the
n_critic phase survives a resume).

DDP
---
Lightning wraps the whole module in one DistributedDataParallel. DDP's reducer
expects every registered parameter to get a gradient in each backward, but a GAN
step deliberately updates one network only; that is why Lightning's GAN example
fails under ``strategy=ddp`` (Lightning #20328, #20866). ``find_unused_parameters``
would hide it at a cost: a graph search on every backward, and an all-reduce of
both networks' gradient buckets each step, half of them for nothing.
Instead (:class:`lit_gen.models.gan.alternating.AlternatingSteps`, which the CVAE-GAN
shares), each step runs inside ``opt.toggle_model(sync_grad=False)``: Lightning's own
API, which freezes the idle network (no gradients are computed for it) and blocks
DDP's reducer (``no_sync``). The gradients of exactly the network being stepped are
then averaged across processes as one flat tensor through ``strategy.reduce`` before
its optimizer steps. So every process applies the same averaged update, only the
gradients that are used are communicated, and ``strategy=ddp`` works as is.
With the reducer idle, DDP does not broadcast buffers before each forward either, so
during an epoch each process updates its own BatchNorm running statistics. Rank 0's
are exactly what ``broadcast_buffers`` would have left it with, and at the start of
every validation all buffers are broadcast from rank 0 (``on_validation_epoch_start``),
so all processes evaluate and sample the same model (BN statistics, EMA, fixed noise).
"""

from __future__ import annotations

import copy
from typing import Optional

import torch

from lit_gen.errors import UserError
from lit_gen.models.base import GenerativeModule
from lit_gen.models.optim import OptimConfig
from lit_gen.models.components.dcgan import DCGANDiscriminator, DCGANGenerator
from lit_gen.models.components.mlp import MLPDiscriminator, MLPGenerator
from lit_gen.models.gan import fdivergences, losses
from lit_gen.models.gan.alternating import AlternatingSteps
from lit_gen.models.gan.config import GANConfig
from lit_gen.spec import DataSpec, to_model_range, to_unit_range

FIXED_NOISE_SEED = 20140610  # fixed z is independent of the run's seed, so grids compare across runs


def build_gan_nets(c: GANConfig, data: DataSpec) -> tuple[torch.nn.Module, torch.nn.Module]:
    if c.net == "mlp":
        g = MLPGenerator(c.latent_dim, data.shape, c.g_width, c.depth, tanh=data.is_image)
        return g, MLPDiscriminator(data.shape, c.d_width, c.depth, c.resolved_d_norm())
    if not data.is_image:
        raise UserError(f"model.net=dcgan: the data are {data.vector_dim}-d vectors, not images; use model.net=mlp")
    g = DCGANGenerator(c.latent_dim, data.channels, data.image_size, c.g_width)
    return g, DCGANDiscriminator(data.channels, data.image_size, c.d_width, c.resolved_d_norm())


class GAN(AlternatingSteps, GenerativeModule):
    needs = ("image",)

    def __init__(self, model_cfg: GANConfig, optim_cfg: OptimConfig, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        self.automatic_optimization = False
        c = self.model_cfg
        self.latent_dim = c.latent_dim
        self.n_critic = c.n_critic
        self.loss_name = c.loss
        self.dis_loss, self.gen_loss = losses.loss_pair(c.loss, c.fgan_generator)
        self.divergence = fdivergences.divergence_of(c.loss)  # f-GAN's; None for the other losses
        self.generator, self.discriminator = build_gan_nets(c, data)
        self.ema_decay = float(c.ema_decay or 0.0)
        # the EMA generator is a submodule (so it is in state_dict and moves with the model) whose
        # parameters do not require grad (so no optimizer and no DDP reducer ever sees them)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False) if self.ema_decay > 0 else None
        g = torch.Generator().manual_seed(FIXED_NOISE_SEED)
        self.register_buffer("fixed_z", torch.randn(c.num_fixed_noise, self.latent_dim, generator=g))
        self.register_buffer("num_d_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("num_g_steps", torch.zeros((), dtype=torch.long))

    # --- data <-> model space ---------------------------------------------------------
    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        """Images [0, 1] -> [-1, 1] (the tanh range); vectors are real-valued and pass unchanged."""
        return to_model_range(x) if self.data.is_image else x

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        return to_unit_range(x) if self.data.is_image else x

    # --- losses -------------------------------------------------------------------
    def _noise(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=like.device, dtype=like.dtype)

    def d_terms(self, real: torch.Tensor, penalty: bool = True) -> dict:
        """Discriminator loss on a real batch (in [-1, 1]) and a fresh fake batch of the same size."""
        with torch.no_grad():
            fake = self.generator(self._noise(real.shape[0], real))
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        loss = self.dis_loss(d_real, d_fake)
        terms = {"d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        if self.divergence is not None:  # the batch's lower bound on D_f(data || G), paper Eq. 6
            terms["fdiv"] = fdivergences.variational_bound(self.divergence, d_real.detach(), d_fake.detach())
        if self.loss_name == "wgan-gp":
            terms["wdist"] = terms["d_real"] - terms["d_fake"]
            if penalty:
                gp = losses.gradient_penalty(self.discriminator, real, fake)
                terms["gp"] = gp.detach()
                loss = loss + self.model_cfg.gp_weight * gp
        r1 = self.model_cfg.r1_weight
        if penalty and r1 > 0:
            pen = losses.r1_penalty(self.discriminator, real)
            terms["r1"] = pen.detach()
            loss = loss + 0.5 * r1 * pen
        terms["loss_d"] = loss
        return terms

    def g_terms(self, n: int, like: torch.Tensor) -> dict:
        """Generator loss on a fresh fake batch of ``n`` images."""
        d_fake = self.discriminator(self.generator(self._noise(n, like)))
        return {"loss_g": self.gen_loss(d_fake)}

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        real = self.to_model_space(batch["image"])
        n = real.shape[0]
        out = self._optimize(opt_d, lambda: self.d_terms(real), "loss_d", count=False)
        self.num_d_steps += 1
        if int(self.num_d_steps) % self.n_critic == 0:
            out.update(self._optimize(opt_g, lambda: self.g_terms(n, real), "loss_g", count=True))
            self.num_g_steps += 1
            self.update_ema()
        self.log_train(out, n, ("loss_d", "loss_g"))  # logged in batches by the base class (self.log is slow)
        # the divergence guard reads these
        return {k: out[k] for k in ("loss_d", "loss_g") if k in out}

    def configure_optimizers(self):
        return self.two_optimizers(self.generator.parameters(), self.discriminator.parameters())

    # --- EMA --------------------------------------------------------------------------
    def ema_decay_at(self, t: int) -> float:
        """The decay of the t-th update (t = 1, 2, ...): min(ema_decay, (1 + t) / (10 + t)).

        The warm-up (as TensorFlow's ExponentialMovingAverage with num_updates) keeps the
        average from being dominated by the random initial weights early in training: with
        0.999 and no warm-up, 67% of the average would still be the initialization after 400 steps.
        """
        return min(self.ema_decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- d_t * ema + (1 - d_t) * generator, for weights and float buffers (BN statistics);
        d_t = ``ema_decay_at(t)`` at the t-th generator step."""
        if self.generator_ema is None:
            return
        w = 1.0 - self.ema_decay_at(int(self.num_g_steps))
        for e, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
            e.lerp_(p.detach(), w)
        for e, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            if e.is_floating_point():
                e.lerp_(b, w)
            else:
                e.copy_(b)

    # --- validation ---------------------------------------------------------------------
    def _eval_step(self, batch, stage: str) -> None:
        real = self.to_model_space(batch["image"])
        terms = self.d_terms(real, penalty=False)
        with torch.no_grad():
            terms.update(self.g_terms(real.shape[0], real))
        for k, v in terms.items():
            self.log(f"{stage}/{k}", v, on_epoch=True, batch_size=real.shape[0], sync_dist=True)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    # --- the generative protocol ------------------------------------------------------
    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The network behind ``sample``: the EMA generator when ``model.ema_decay`` is set."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, latent_dim) -> images in [0, 1] (or vectors, for vector data)."""
        return self.to_data_space(self.sampling_generator(z.to(self.device)))

    def decoder_mean(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, latent_dim) -> G(z) in data space, differentiable in z: the mean of the Gaussian observation
        model that AIS puts on a generator (Wu et al. 2017)."""
        return self.to_data_space(self.sampling_generator(z))

    @torch.no_grad()
    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator on data ``x`` (N, ...): D(x) = P(real) for the log losses, the raw critic
        value for hinge and wgan-gp (which have no probability), and f-GAN's variational function
        T(x) = g_f(V(x)) (at the optimum f'(p_data / p_G): above f'(1), too few samples there). For pictures of
        where D pushes G."""
        out = self.discriminator(self.to_model_space(x.to(self.device)))
        if self.divergence is not None:
            return self.divergence.activation(out)
        return torch.sigmoid(out) if self.loss_name in ("minimax", "nonsaturating") else out

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return self.generate(torch.randn(n, self.latent_dim, generator=generator))

    @torch.no_grad()
    def fixed_samples(self, n: int) -> torch.Tensor:
        """Samples from the stored fixed noise (the same z every epoch and after a resume)."""
        z = self.fixed_z[:n]
        if n > len(z):  # more than stored: extend deterministically
            g = torch.Generator().manual_seed(FIXED_NOISE_SEED + 1)
            z = torch.cat([z, torch.randn(n - len(z), self.latent_dim, generator=g).to(z)])
        return self.generate(z)
