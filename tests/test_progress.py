"""The training progress bar redraws on the clock, and always shows the exact final count and metrics."""

import lightning as L
import pytest
import torch

from lit_gen.callbacks.progress import TimedProgressBar


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        loss = self.lin(batch).pow(2).mean()
        self.log("loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Recording(TimedProgressBar):
    """Records the count each redraw of the training and validation bars shows (through tqdm's public ``refresh``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_drawn, self.val_drawn = [], []

    @staticmethod
    def _recorded(bar, into: list):
        refresh = bar.refresh

        def counted(*args, **kwargs):
            into.append(bar.n)
            return refresh(*args, **kwargs)

        bar.refresh = counted
        return bar

    def init_train_tqdm(self):
        return self._recorded(super().init_train_tqdm(), self.train_drawn)

    def init_validation_tqdm(self):
        return self._recorded(super().init_validation_tqdm(), self.val_drawn)


def fit(bar, batches=30, **trainer_kw):
    data = torch.utils.data.DataLoader(torch.randn(batches, 4), batch_size=1)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[bar], max_epochs=1, num_sanity_val_steps=0, **trainer_kw)
    trainer.fit(Tiny(), train_dataloaders=data, val_dataloaders=data)
    return trainer


def test_a_long_interval_draws_the_first_and_the_last_batch_only():
    bar = Recording(interval_s=1e9)
    fit(bar)
    assert sorted(set(bar.train_drawn)) == [0, 1, 30]  # 0: the bar's reset at the epoch's start
    assert sorted(set(bar.val_drawn)) == [0, 1, 30]
    assert "loss" in bar.train_progress_bar.postfix  # the epoch's metrics are on the final bar


def test_interval_zero_draws_every_batch_as_lightning_does():
    bar = Recording(interval_s=0)
    fit(bar, limit_val_batches=0)
    assert set(range(1, 31)) <= set(bar.train_drawn)
    assert len(bar.train_drawn) <= 30 + 3  # one redraw a batch for the count and the metrics together (Lightning's: 2)


def test_a_stop_before_the_epoch_ends_still_shows_its_last_count():
    bar = Recording(interval_s=1e9)
    fit(bar, max_steps=7, limit_val_batches=0)
    assert bar.train_drawn[-1] == 7 and bar.train_progress_bar.n == 7


def test_the_interval_is_a_checked_run_key():
    from lit_gen.config import load_config
    from lit_gen.errors import UserError

    cfg = load_config("configs/vae_mnist.yaml", ["run.progress_interval_s=0.5"])
    assert cfg.run.progress_interval_s == 0.5
    with pytest.raises(UserError, match=r"run\.progress_interval_s=-1"):
        load_config("configs/vae_mnist.yaml", ["run.progress_interval_s=-1"])
