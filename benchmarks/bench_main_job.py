"""Wall time and peak RSS of the main job: ``python -m lit_gen.fit --config configs/gan.yaml``.

    OMP_NUM_THREADS=1 python benchmarks/bench_main_job.py [--interval 0.5] [-- extra key=value overrides]

Runs the command as a subprocess (from the repository root, so its run folder lands under ``runs/``),
samples the resident memory of the whole process tree (the CLI and any children, e.g. W&B's
offline writer) every ``--interval`` seconds, and prints the wall time, the peak RSS of the tree
(the sum over live processes at a sample) and the peak RSS of the main process alone (its VmHWM,
exact). Also prints the load average before and after: on a shared machine the wall time depends on it.
Targets: <= 10 min and <= 3 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(c) for c in open(f"/proc/{pid}/task/{tid}/children").read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> tuple[float, int]:
    """(RSS of the process tree rooted at ``pid`` in MB, number of processes)."""
    try:
        import psutil

        try:
            root = psutil.Process(pid)
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return 0.0, 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20, len(procs)
    except ImportError:
        pids = _tree(pid)
        return sum(_status_kb(p, "VmRSS") for p in pids) / 1024.0, len(pids)


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/gan.yaml")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between RSS samples")
    p.add_argument("overrides", nargs="*", help="extra key=value overrides for lit_gen.fit")
    a = p.parse_args()
    cmd = [sys.executable, "-m", "lit_gen.fit", "--config", a.config, *a.overrides]
    print(f"command: {' '.join(cmd[1:])}  (cwd {REPO})")
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, os.cpu_count()={os.cpu_count()}, "
          f"load average before: {loadavg()}", flush=True)
    t0, c0 = time.perf_counter(), os.times()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    peak, peak_n, main_hwm, loads = 0.0, 0, 0, []
    import threading

    lines: list[str] = []

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("lit_gen:") or "Error" in line or "error" in line:
                print("  | " + line.rstrip(), flush=True)

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    last_load = time.perf_counter()
    while proc.poll() is None:
        rss, n = tree_rss_mb(proc.pid)
        if rss > peak:
            peak, peak_n = rss, n
        main_hwm = max(main_hwm, _status_kb(proc.pid, "VmHWM"))
        if time.perf_counter() - last_load > 30:
            loads.append(float(loadavg().split()[0]))
            last_load = time.perf_counter()
        time.sleep(a.interval)
    th.join(timeout=5)
    wall = time.perf_counter() - t0
    c1 = os.times()
    child_cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    print(f"exit code: {proc.returncode}")
    if proc.returncode != 0:
        print("".join(lines[-30:]))
    print(f"load average after: {loadavg()}; 1-min load sampled every 30 s: "
          f"min {min(loads, default=float('nan')):.2f}, median {sorted(loads)[len(loads) // 2] if loads else float('nan'):.2f}, "
          f"max {max(loads, default=float('nan')):.2f}")
    print(f"wall time: {wall:.1f} s ({wall / 60:.2f} min); CPU time of the job: {child_cpu:.1f} s "
          f"(target <= 600 s: {'met' if wall <= 600 else 'NOT met'})")
    print(f"peak RSS, process tree (sampled every {a.interval} s): {peak:.0f} MB over {peak_n} processes "
          f"(target <= 3072 MB: {'met' if peak <= 3072 else 'NOT met'})")
    print(f"peak RSS, main process (VmHWM): {main_hwm / 1024:.0f} MB")


if __name__ == "__main__":
    main()
