"""β-TCVAE (Chen et al. 2018) as a LightningModule: the VAE with the KL term replaced by its weighted decomposition.

Loss per image = -E_q[log p(x|z)] + alpha * MI + beta * TC + gamma * dim-wise KL, the three estimated on the
training minibatch (:mod:`lit_gen.models.btcvae.losses`, minibatch-weighted sampling). The batches must be i.i.d.
draws of the data set for the estimate to hold: train it on plain batches, not factor batches. The logged ``kl``
is the closed-form KL (as in the VAE), ``elbo`` the ELBO, so runs compare with the VAE's.
"""

from __future__ import annotations

from lit_gen.models.btcvae import losses as tc_losses
from lit_gen.models.vae import VAE
from lit_gen.models.vae import losses


class BetaTCVAE(VAE):
    prog_bar_keys = ("loss", "elbo", "tc")

    def loss_terms(self, x):
        c = self.model_cfg
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, c.mc_samples)  # (L, N, D)
        recon = self.neg_log_px(self.decode(z), x).mean(0)
        kl = losses.gaussian_kl(mu, logvar)
        # N: the training split; a batch larger than it (or an old checkpoint without it) counts as the data set
        n = max(self.data.train_size or 0, x.shape[0])
        parts = {k: v.mean(0) for k, v in tc_losses.tc_decomposition(z, mu, logvar, n).items()}
        loss = recon + c.alpha * parts["mi"] + c.beta * parts["tc"] + c.gamma * parts["dwkl"]
        return {"recon": recon, "kl": kl, **parts, "loss": loss, "elbo": -(recon + kl)}
