"""The CVAE-GAN (Bao et al. 2017) as a LightningModule: the CVAE and its critics, trained in turn.

Each training batch makes two updates, by manual optimization on the GAN's path
(:class:`lit_gen.models.gan.alternating.AlternatingSteps`: the idle networks frozen, DDP-safe):

1. the critics' step: the attribute critic (:mod:`lit_gen.models.cvae_gan.critic`) learns the discrete
   attributes of the real images and real against generated images (prior samples, z ~ N(0, I) and y from its
   prior: the discriminator loss of ``lit_gen.models.gan.losses``); the latent adversary, when on, learns to read
   them from the posterior sample z;
2. the CVAE's step (counted by ``trainer.global_step``): the CVAE's loss, plus ``classifier_weight`` times the
   critic's cross-entropy on prior samples and their y, plus ``realism_weight`` times the non-saturating GAN loss
   on them, minus ``adversary_weight`` times the adversary's cross-entropy (the encoder defeats it).

Validation and test: the CVAE's terms and the critic's attribute accuracies on real images and prior samples.
"""

from __future__ import annotations

import torch

from lit_gen.errors import UserError
from lit_gen.models.cvae.module import CVAE
from lit_gen.models.cvae_gan.critic import AttributeCritic, group_cross_entropy
from lit_gen.models.gan import losses as gan_losses
from lit_gen.models.gan.alternating import AlternatingSteps
from lit_gen.spec import DataSpec, to_model_range

CRITICS = ("critic.", "adversary.")  # the parameters of the critics' optimizer


class CVAEGAN(AlternatingSteps, CVAE):
    prog_bar_keys = ("loss", "elbo", "cls_gen_acc")

    def __init__(self, model_cfg, optim_cfg, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        if not self.cond.groups:
            raise UserError(f"model.name=cvae_gan: its critic reads discrete attributes, and y "
                            f"(model.condition={self.model_cfg.condition}) has none; use a data set with attributes "
                            "or labels (scenes, mnist)")
        self.automatic_optimization = False
        c = self.model_cfg
        self.critic = AttributeCritic(data.channels, data.image_size, c.widths, self.cond.groups, c.classifier_shift)
        self.adversary = None
        if c.adversary_weight > 0:
            from lit_gen.models.cvae_gan.adversary import LatentAdversary

            self.adversary = LatentAdversary(c.latent_dim, self.cond.groups, c.adversary_hidden)

    def prior_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n prior samples (images in [-1, 1]) and the y they were drawn with."""
        y = self.cond.prior(n).to(self.device)
        return self.decode_model(torch.randn(n, self.latent_size, device=self.device), y), y

    def critic_terms(self, batch: dict) -> dict:
        x, y = to_model_range(batch["image"]), self.y_of(batch)
        with torch.no_grad():
            x_gen, _ = self.prior_batch(len(x))
        attr_real, real_logit = self.critic(x)
        cls_real, cls_real_acc = group_cross_entropy(attr_real, y, self.cond.groups)
        dis = gan_losses.gan_loss_dis(real_logit, self.critic(x_gen)[1])
        terms = {"cls_real": cls_real.mean(), "cls_real_acc": cls_real_acc.mean(), "dis": dis}
        loss = terms["cls_real"] + dis
        if self.adversary is not None:
            with torch.no_grad():
                _, z = self.elbo_terms(batch)
            adv, adv_acc = self.adversary(z, y)
            terms["adv"], terms["adv_acc"] = adv.mean(), adv_acc.mean()
            loss = loss + terms["adv"]
        terms["loss_critic"] = loss
        return terms

    def vae_terms(self, batch: dict) -> dict:
        c = self.model_cfg
        per_image, z = self.elbo_terms(batch)
        terms = {k: v.mean() for k, v in per_image.items()}
        x_gen, y_gen = self.prior_batch(len(z))
        attr_gen, gen_logit = self.critic(x_gen)
        cls_gen, cls_gen_acc = group_cross_entropy(attr_gen, y_gen, self.cond.groups)
        terms.update(cls_gen=cls_gen.mean(), cls_gen_acc=cls_gen_acc.mean(), realism=gan_losses.ns_loss_gen(gen_logit))
        loss = terms["loss"] + c.classifier_weight * terms["cls_gen"] + c.realism_weight * terms["realism"]
        if self.adversary is not None:
            terms["adv_enc"] = self.adversary(z, self.y_of(batch))[0].mean()
            loss = loss - c.adversary_weight * terms["adv_enc"]
        terms["loss"] = loss
        return terms

    def training_step(self, batch, batch_idx):
        opt_vae, opt_critic = self.optimizers()
        out = self._optimize(opt_critic, lambda: self.critic_terms(batch), "loss_critic", count=False)
        out.update(self._optimize(opt_vae, lambda: self.vae_terms(batch), "loss", count=True))
        self.log_train(out, len(batch["image"]), self.prog_bar_keys)
        return {"loss": out["loss"]}

    def step_terms(self, batch: dict) -> dict:
        """Validation and test: the CVAE's terms, and how well the critic reads y from real images and prior samples."""
        terms = self.loss_terms(batch)
        x_gen, y_gen = self.prior_batch(len(batch["image"]))
        terms["cls_gen_acc"] = group_cross_entropy(self.critic(x_gen)[0], y_gen, self.cond.groups)[1]
        attr_real = self.critic(to_model_range(batch["image"]))[0]
        terms["cls_real_acc"] = group_cross_entropy(attr_real, self.y_of(batch), self.cond.groups)[1]
        return terms

    def configure_optimizers(self):
        vae = [p for n, p in self.named_parameters() if not n.startswith(CRITICS)]
        critics = [p for n, p in self.named_parameters() if n.startswith(CRITICS)]
        return self.two_optimizers(vae, critics)
