"""What every ``python -m lit_gen.<cli>`` shares: the argument parser that answers in one line, and ``run_cli``,
which turns the stops of :mod:`lit_gen.errors` into one line on stderr and an exit code.

``run_cli`` is the entry point's own setting of the process: it keeps freed memory in the process
(:mod:`lit_gen.allocator`) for the CLI's lifetime; library calls such as ``lit_gen.run.train`` leave it alone.
"""

from __future__ import annotations

import argparse
import sys

from lit_gen.errors import LitGenError
from lit_gen.run_folder import launched_rank

SECTIONS = """config sections (override any key with section.key=value):
  seed       global seed
  data       name, root, batch_size, image_size, channels, num_workers, val_fraction, ...
  model      name (vae, ...) plus that model's keys
  optim      name, lr, betas, eps, weight_decay, scheduler
  trainer    passed to lightning.Trainer: max_epochs, max_steps, limit_train_batches,
             accelerator, devices, strategy, precision, ...
  logger     name (wandb|tensorboard|mlflow|csv|none, or a list), project, mode (offline|online)
  metrics    every_n_epochs, num_samples, grid_size, ...
  run        dir, name, group (W&B group; default: the model family), tags
  ckpt_path  'last' or a checkpoint path, to resume

examples:
  python -m lit_gen.fit --config configs/vae.yaml
  python -m lit_gen.fit --config configs/vae.yaml model.latent_dim=16 trainer.max_epochs=3
  python -m lit_gen.fit --config configs/vae.yaml --print-config"""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        print(f"error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def make_parser(prog: str, description: str) -> OneLineParser:
    return OneLineParser(prog=prog, description=description, epilog=SECTIONS,
                         formatter_class=argparse.RawDescriptionHelpFormatter)


def run_cli(fn, argv=None) -> int:
    """Run a CLI body; user mistakes (exit code 2) and the other stops of ``lit_gen.errors`` become one line on
    stderr and their exit code."""
    from lit_gen.allocator import keep_freed_memory

    keep_freed_memory()
    try:
        return fn(argv) or 0
    except LitGenError as e:
        # DDP ranks run the CLI too and hit the same error: one line per run, not per process
        if launched_rank() == 0:
            print(f"{e.prefix}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is kept (resume with ckpt_path=last)", file=sys.stderr)
        return 130
