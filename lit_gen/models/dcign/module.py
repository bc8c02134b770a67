"""DC-IGN (Kulkarni et al. 2015): a convolutional VAE trained on one-factor batches with clamped latents.

The network, the likelihoods, the KL and the validation loss are the VAE's
(:class:`lit_gen.models.vae.VAE`); only the training step differs. For a
training batch whose ``varied`` group is g (data group k is the k-th of the
data's factor groups, ``DataSpec.factor_groups``: azimuth, elevation, light,
intrinsic on scenes and faces), every latent outside
``model.factor_latents[g]`` is clamped (:mod:`lit_gen.models.dcign.clamp`)
before decoding:

- ``clamp_params=false`` (default): sample z = mu + sigma * eps, then clamp z;
- ``clamp_params=true`` (authors' code): clamp mu and log-variance, then sample.

The KL term uses the encoder's own (unclamped) mu and log-variance, so every
latent keeps its prior pull. With ``model.clamp=false`` the same network
trains as a plain VAE on the same batches (the baseline).
"""

from __future__ import annotations

from typing import Optional

import torch

from lit_gen.spec import DataSpec
from lit_gen.models.dcign.clamp import clamp_latents
from lit_gen.models.dcign.config import GROUPS, latent_layout
from lit_gen.models.vae import VAE
from lit_gen.models.vae import losses


class DCIGN(VAE):
    needs = ("image", "factors")

    def __init__(self, model_cfg, optim_cfg, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        c = self.model_cfg
        # checkpoints from before sources named their groups: DC-IGN's own
        self.groups = tuple(g for g, _ in data.factor_groups) or GROUPS
        self.layout = latent_layout(c.latents(), c.latent_dim, self.groups)
        masks = torch.zeros(len(self.groups), c.latent_dim, dtype=torch.bool)
        for k, g in enumerate(self.groups):
            masks[k, self.layout[g]] = True
        self.register_buffer("group_masks", masks, persistent=False)
        self._active: Optional[int] = None  # the group index of the current training batch

    @property
    def clamping(self) -> bool:
        return bool(self.model_cfg.clamp)

    def assigned_latents(self) -> Optional[dict]:
        """{factor: latent index} for the single-latent groups; None for the baseline (use its best latents)."""
        if not self.clamping:
            return None
        return {g: self.layout[g][0] for g in self.groups if g != "intrinsic" and len(self.layout[g]) == 1}

    def loss_terms(self, x: torch.Tensor) -> dict:
        if self._active is None:
            return super().loss_terms(x)
        c = self.model_cfg
        active = self.group_masks[self._active]
        ref, strength = c.clamp_to, c.invariance_strength
        mu, logvar = self.encode(x)
        if c.clamp_params:
            z = self.reparameterize(clamp_latents(mu, active, ref, strength), clamp_latents(logvar, active, ref, strength),
                                    c.mc_samples)
        else:
            z = clamp_latents(self.reparameterize(mu, logvar, c.mc_samples), active, ref, strength)
        recon = self.neg_log_px(self.decode(z), x).mean(0)
        kl = losses.gaussian_kl(mu, logvar)
        return {"recon": recon, "kl": kl, "loss": recon + c.beta * kl, "elbo": -(recon + kl)}

    def training_step(self, batch, batch_idx):
        if not self.clamping or "varied" not in batch:
            return super().training_step(batch, batch_idx)
        k = int(batch["varied"].reshape(-1)[0])
        if k >= len(self.groups):
            raise ValueError(f"batch varies factor group {k}; the data has {len(self.groups)} groups {self.groups}")
        self._active = k
        try:
            return self._step(batch, "train")
        finally:
            self._active = None
