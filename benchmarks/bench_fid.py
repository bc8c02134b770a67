"""Benchmark: FID on domain features, end to end, and its peak memory against N.

    python benchmarks/bench_fid.py                      # N = 1k, 2k, 5k, 10k; MNIST test split as real data
    python benchmarks/bench_fid.py --sizes 10000 --threads 1 --suite

For each N a fresh process (so the peak RSS is that run's own) does what the
fit callback and ``evaluate`` do: N real test images -> domain features ->
FID real statistics; N samples from a VAE (``model.sample``, batches of 250)
-> features -> FID fake statistics; ``compute``. It reports wall time per
stage and the peak resident memory (VmHWM, reset after setup through
``/proc/self/clear_refs``) above the resident memory after setup (imports,
data, model, feature net, one warm-up batch). torchmetrics' FID
keeps running sums (a d-vector and a d x d matrix per side, float64), and the
images are streamed in fixed-size batches, so the peak should not grow with N.

``--suite`` also times the whole ``lit_gen.metrics.sample_quality.measure``
(FID + IS + KID with 100 subsets + blur of samples and reconstructions).

The model is an untrained VAE with the ``configs/vae_mnist.yaml`` architecture
(784-200-200-50) and the feature net the default domain architecture with
random weights unless a cached trained one exists (``--cache-dir``): the cost
does not depend on the weights. Without ``../shared/data`` the real images are
synthetic.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _status_mb(field: str):
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so setup's transient peaks do not hide later growth."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    hwm = _status_mb("VmHWM")  # since the last reset_peak()
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def setup(args):
    import torch
    from omegaconf import OmegaConf

    from lit_gen.config.schema import DataConfig
    from lit_gen.metrics.feature_cache import cache_path, ensure_domain_net
    from lit_gen.metrics.feature_extractor import domain_extractor
    from lit_gen.metrics.feature_net import DomainNet, DomainNetConfig
    from lit_gen.models.optim import OptimConfig
    from lit_gen.models.vae import VAE, VAEConfig
    from lit_gen.spec import DataSpec

    real_ds, info = None, "synthetic"
    data_cfg = OmegaConf.structured(DataConfig)
    data_cfg.name, data_cfg.root, data_cfg.image_size = "mnist", args.data_root, 28
    if (Path(args.data_root) / "MNIST" / "raw").is_dir():
        from lit_gen.data.datamodule import GenerativeDataModule

        dm = GenerativeDataModule(data_cfg)
        dm.setup()
        real_ds, info = dm.splits.test, f"MNIST test split ({len(dm.splits.test)} images)"
    net_cfg = DomainNetConfig()
    path = cache_path(data_cfg, net_cfg, args.cache_dir)
    if path.is_file():
        net, meta = ensure_domain_net(data_cfg, net_cfg, args.cache_dir, progress=False)
        net_info = f"trained domain net ({100 * meta['test_accuracy']:.2f}% test accuracy)"
    else:
        torch.manual_seed(0)
        net, meta = DomainNet(1, 28, 10, net_cfg.widths, net_cfg.feat_dim).eval(), {}
        net_info = "domain net architecture, random weights (no cached net; cost is the same)"
    ext = domain_extractor(net, meta)
    vae_cfg = VAEConfig(net="mlp", latent_dim=50, hidden=[200, 200], activation="tanh", init_output_bias=False)
    torch.manual_seed(0)
    model = VAE(vae_cfg, OptimConfig(), DataSpec(channels=1, image_size=28)).eval()
    return real_ds, info, ext, net_info, model


def real_batches(real_ds, n, batch):
    import torch

    if real_ds is None:
        g = torch.Generator().manual_seed(1)
        for s in range(0, n, batch):
            x = torch.rand(min(batch, n - s), 1, 7, 7, generator=g)
            yield torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear")
        return
    from lit_gen.metrics.sample_quality import iterate_images, real_indices

    yield from iterate_images(real_ds, real_indices(len(real_ds), n, 0), batch)


def child(args) -> dict:
    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    real_ds, info, ext, net_info, model = setup(args)
    n = args.child
    n_real = n if real_ds is None else min(n, len(real_ds))
    # warm-up: one batch through everything, so lazy initialisations do not count as N-dependent memory
    from torchmetrics.image.fid import FrechetInceptionDistance

    warm = FrechetInceptionDistance(feature=ext.features_module(), reset_real_features=False, normalize=True)
    with torch.no_grad():
        x = model.sample(args.batch, generator=torch.Generator().manual_seed(0))
        warm.update(x, real=True)
        warm.update(x, real=False)
        warm.compute()
    del warm
    import gc

    gc.collect()
    reset_peak()
    base = _status_mb("VmRSS") or peak_rss_mb()
    out = {"n": n, "n_real": n_real, "threads": torch.get_num_threads(), "real": info, "features": net_info,
           "rss_baseline_mb": round(base, 1)}

    t0 = time.perf_counter()
    fid = FrechetInceptionDistance(feature=ext.features_module(), reset_real_features=False, normalize=True)
    with torch.no_grad():
        for x in real_batches(real_ds, n_real, args.batch):
            fid.update(x, real=True)
        t1 = time.perf_counter()
        g = torch.Generator().manual_seed(0)
        t_sample = 0.0
        done = 0
        while done < n:
            b = min(args.batch, n - done)
            ts = time.perf_counter()
            x = model.sample(b, generator=g)
            t_sample += time.perf_counter() - ts
            fid.update(x, real=False)
            done += b
        t2 = time.perf_counter()
        value = float(fid.compute())
    t3 = time.perf_counter()
    out.update(fid=round(value, 3), real_s=round(t1 - t0, 2), fake_s=round(t2 - t1, 2), sample_s=round(t_sample, 2),
               compute_s=round(t3 - t2, 3), total_s=round(t3 - t0, 2),
               peak_rss_mb=round(peak_rss_mb(), 1), growth_mb=round(peak_rss_mb() - base, 1))

    if args.suite:
        from lit_gen.metrics.sample_quality import SampleQuality, measure

        class Synthetic(torch.utils.data.Dataset):
            def __init__(self):
                self.x = torch.cat(list(real_batches(None, n_real, 1000)))

            def __len__(self):
                return len(self.x)

            def __getitem__(self, i):
                return {"image": self.x[i]}

        ds = real_ds if real_ds is not None else Synthetic()
        gc.collect()
        reset_peak()
        before = _status_mb("VmRSS") or peak_rss_mb()
        t0 = time.perf_counter()
        vals = measure(model, ds, SampleQuality(ext, seed=0), n, prefix="test", progress=False)
        out.update(suite_s=round(time.perf_counter() - t0, 2), suite_growth_mb=round(peak_rss_mb() - before, 1),
                   suite={k: round(v, 4) for k, v in vals.items()})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,2000,5000,10000", help="comma-separated N")
    p.add_argument("--batch", type=int, default=250, help="images per batch (as the callback uses)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--suite", action="store_true", help="also time the full FID+IS+KID+blur measure()")
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--cache-dir", default=None, help="lit_gen cache root holding a trained domain net")
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        cmd = [sys.executable, __file__, "--child", str(n), "--batch", str(args.batch), "--threads", str(args.threads),
               "--data-root", args.data_root] + (["--cache-dir", args.cache_dir] if args.cache_dir else []) + \
              (["--suite"] if args.suite else [])
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
        if r.returncode != 0:
            print(r.stderr[-2000:], file=sys.stderr)
            return 1
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(f"N={n:>6}: done", file=sys.stderr, flush=True)
    first = rows[0]
    print(f"FID on domain features, end to end (real: {first['real']}; {first['features']}; "
          f"{first['threads']} thread(s), batch {args.batch})")
    print(f"{'N':>6} {'N real':>7} {'FID':>9} {'real s':>7} {'fake s':>7} {'(sample)':>9} {'compute s':>9} "
          f"{'total s':>8} {'img/s':>7} {'base MB':>8} {'peak MB':>8} {'growth MB':>9}")
    for r in rows:
        ips = (r["n"] + r["n_real"]) / max(r["total_s"], 1e-9)
        print(f"{r['n']:>6} {r['n_real']:>7} {r['fid']:>9.3f} {r['real_s']:>7.2f} {r['fake_s']:>7.2f} "
              f"{r['sample_s']:>9.2f} {r['compute_s']:>9.3f} {r['total_s']:>8.2f} {ips:>7.0f} "
              f"{r['rss_baseline_mb']:>8.1f} {r['peak_rss_mb']:>8.1f} {r['growth_mb']:>9.1f}")
    growth = [r["growth_mb"] for r in rows]
    print(f"peak-RSS growth over the baseline, N={rows[0]['n']}..{rows[-1]['n']}: {min(growth):.1f}..{max(growth):.1f} MB "
          f"(the images alone would be {rows[-1]['n'] * 784 * 4 / 2**20:.0f} MB at N={rows[-1]['n']})")
    for r in rows:
        if "suite_s" in r:
            s = r["suite"]
            print(f"full measure() at N={r['n']}: {r['suite_s']:.1f}s, peak growth {r['suite_growth_mb']:.1f} MB; "
                  f"fid {s.get('test/fid_domain')}, is {s.get('test/is_domain')}, kid {s.get('test/kid_domain')}, "
                  f"blur_ratio {s.get('test/blur_ratio')}, blur_ratio_recon {s.get('test/blur_ratio_recon')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
