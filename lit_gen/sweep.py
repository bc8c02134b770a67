"""``python -m lit_gen.sweep sweeps/FILE.yaml --count N``: run a W&B sweep file locally, no W&B server.

The same sweep files run on W&B (``wandb sweep FILE && wandb agent ID``); here
W&B's own open-source sweep engine (the ``sweeps`` package: grid, random,
bayes) proposes each trial, and each trial is a subprocess of the sweep's
``command`` with the macros expanded as ``wandb agent`` expands them:

* ``${env}`` -> ``/usr/bin/env`` (nothing on Windows), ``${interpreter}`` -> this
  Python (``sys.executable``; the agent uses ``python`` from PATH, which is the same
  interpreter in an activated environment), ``${program}`` -> the file's ``program``;
* ``${args_no_hyphens}`` -> ``key=value`` per parameter (``f"{key}={value}"``, as the
  agent), ``${args}`` -> ``--key=value``, ``${args_json}``, ``${args_no_boolean_flags}``,
  ``${args_no_equals}``, ``${args_append_hydra}``, ``${args_override_hydra}``;
  ``${envvar:NAME}`` -> the environment variable.

Each trial gets its own run folder ``<out>/<sweep>-trial-NNN/`` (``run.dir=<out>``
and ``run.name=<sweep>-trial-NNN`` follow the parameters), its log in
``<out>/<sweep>-trial-NNN.log``; its metric (the file's ``metric.name``) is read
from the run folder's ``final_metrics.json`` and handed back to the engine. A
failed trial is recorded as failed and the sweep goes on. ``<out>/results.csv``
(rewritten after every trial) and the printed table list the trials best first.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Optional


from lit_gen.config.load import read_yaml_mapping
from lit_gen.errors import UserError
from lit_gen.cli import make_parser, run_cli

INSTALL_HINT = 'python -m pip install --no-deps "sweeps==0.3.0"'
ARGS_MACRO = "${args_no_hyphens}"
RESERVED = ("run.dir", "run.name")  # set per trial by the runner
METHODS = ("grid", "random", "bayes")
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")

EPILOG = """examples:
  python -m lit_gen.sweep sweeps/vae.yaml --count 8
  python -m lit_gen.sweep sweeps/vae.yaml --count 2 trainer.max_epochs=1 data.scenes.num_train=512
  python -m lit_gen.sweep sweeps/gan.yaml --count 6 --out runs/sweeps/gan-lr

key=value overrides go to every trial, after the sweep's own parameters; one may replace a
constant parameter (`value: ...`), not a searched one, nor run.dir or run.name. A grid sweep runs the whole grid unless
--count is smaller; random and bayes need --count."""


class SweepInterrupted(UserError):
    """Ctrl-C: the running trial is stopped, the finished ones are kept."""

    exit_code = 130


def engine():
    """The ``sweeps`` package (W&B's sweep engine), or a one-line install hint."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic v2 config-key renames inside sweeps
            import sweeps
    except ImportError as e:
        raise UserError(f"the local sweep runner needs W&B's sweep engine ({e}); "
                        f"install it with: {INSTALL_HINT}") from None
    if not hasattr(sweeps, "next_run"):  # from the repository root, `import sweeps` finds our sweeps/ folder
        where = ", ".join(getattr(sweeps, "__path__", [])) or "a module without the engine"
        raise UserError(f"the local sweep runner needs W&B's sweep engine, the `sweeps` package (`import sweeps` "
                        f"found only {where}); install it with: {INSTALL_HINT}")
    return sweeps


# --- the sweep file ---------------------------------------------------------------------
def load_sweep(path: str) -> dict:
    """Read and validate a sweep file; every problem is a one-line ``UserError``."""
    cfg = read_yaml_mapping(path, f"sweep file {path}", "method, metric, parameters, command")
    violations = schema_violations(cfg)
    if violations:
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise UserError(f"{path}: not a valid W&B sweep: {violations[0]}{more}")
    if cfg["method"] not in METHODS:
        raise UserError(f"{path}: method={cfg['method']!r}: the local runner supports {', '.join(METHODS)}")
    command = cfg.get("command")
    if not command or ARGS_MACRO not in [str(c) for c in command]:
        raise UserError(f"{path}: 'command' must pass the parameters as {ARGS_MACRO} (lit_gen.fit takes key=value "
                        f"overrides), e.g. [${{env}}, ${{interpreter}}, -m, lit_gen.fit, --config, configs/vae.yaml, "
                        f"{ARGS_MACRO}]")
    for key in cfg["parameters"]:
        if key in RESERVED:
            raise UserError(f"{path}: parameter {key} is set per trial by the runner; sweep other keys")
    return cfg


def schema_violations(cfg: dict) -> list[str]:
    """The engine's own schema check (the one ``wandb sweep`` applies)."""
    sw = engine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(sw.schema_violations_from_proposed_config(cfg))


def sweep_name(cfg: dict, path: str) -> str:
    name = str(cfg.get("name") or Path(path).stem)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "sweep"


# --- the command, as the agent builds it ------------------------------------------------
def plain(value: Any) -> Any:
    """numpy scalars (the engine's random/bayes values) -> Python values, as the server's JSON would give."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def command_args(params: dict) -> dict[str, list[str]]:
    """The argument macros of ``wandb agent`` (``wandb.sdk.launch.sweeps.utils.create_sweep_command_args``)."""
    flags, no_hyphens, no_bool, no_equals, hydra_append, hydra_override = [], [], [], [], [], []
    for key, value in params.items():
        flag = f"{key}={value}"
        flags.append("--" + flag)
        no_hyphens.append(flag)
        no_equals += [f"--{key}", str(value)]
        hydra_append.append("+" + flag)
        hydra_override.append("++" + flag)
        if isinstance(value, bool):
            if value:
                no_bool.append("--" + key)
        else:
            no_bool.append("--" + flag)
    return {
        "args": flags,
        "args_no_equals": no_equals,
        "args_no_hyphens": no_hyphens,
        "args_no_boolean_flags": no_bool,
        "args_json": [json.dumps(params)],
        "args_append_hydra": hydra_append,
        "args_override_hydra": hydra_override,
    }


def build_command(cfg: dict, params: dict, extra: Optional[list] = None) -> list[str]:
    """The trial's command line: the sweep's ``command`` with every macro expanded.

    ``extra`` (``key=value`` strings: the user's overrides, then ``run.dir``/``run.name``)
    goes right after the expanded ``${args_no_hyphens}``, so a later override wins.
    """
    params = {k: plain(v) for k, v in params.items()}
    macros = command_args(params)
    macros["env"] = [] if platform.system() == "Windows" else ["/usr/bin/env"]
    macros["interpreter"] = [sys.executable]
    macros["program"] = [str(cfg.get("program", ""))]
    out: list[str] = []
    for chunk in cfg["command"]:
        c = _ENVVAR.sub(lambda m: os.environ.get(m.group(1), m.group(1)), str(chunk))
        if c.startswith("${") and c.endswith("}"):
            out += macros.get(c[2:-1]) or []
            if c == ARGS_MACRO:
                out += list(extra or [])
        else:
            out.append(c)
    return out


def trial_params(run, fixed: Optional[dict] = None) -> dict:
    """A proposed run's parameters: ``{key: value}`` (the engine wraps each in ``{"value": ...}``).

    ``fixed``: the user's overrides of constant parameters, which replace them.
    """
    params = {k: plain(v["value"]) if isinstance(v, dict) and "value" in v else plain(v) for k, v in run.config.items()}
    params.update({k: v for k, v in (fixed or {}).items() if k in params})
    return params


def fit_config(command: list[str]):
    """The config a ``python -m lit_gen.fit --config FILE key=value ...`` command would train (or None)."""
    if "lit_gen.fit" not in command:
        return None
    rest = command[command.index("lit_gen.fit") + 1 :]
    path, overrides, i = None, [], 0
    while i < len(rest):
        if rest[i] == "--config" and i + 1 < len(rest):
            path, i = rest[i + 1], i + 2
            continue
        if rest[i].startswith("--config="):
            path = rest[i].split("=", 1)[1]
        elif not rest[i].startswith("-"):
            overrides.append(rest[i])
        i += 1
    from lit_gen.config import load_config

    return load_config(path, overrides)


def precheck(cfg: dict, path: str, first: dict, extra: list[str]) -> None:
    """Before any compute: the first trial's config, and every listed value of every parameter, must load."""
    candidates = [first]
    for key, spec in cfg["parameters"].items():
        if isinstance(spec, dict) and "values" in spec:
            candidates += [dict(first, **{key: v}) for v in spec["values"] if v != first.get(key)]
    for params in candidates:
        try:
            fit_config(build_command(cfg, params, extra))
        except UserError as e:
            shown = " ".join(f"{k}={plain(v)}" for k, v in params.items())
            raise UserError(f"{path}: a trial would not start ({shown}): {e}") from None


# --- running ------------------------------------------------------------------------------
def read_final(run_dir: Path) -> dict:
    f = run_dir / "final_metrics.json"
    try:
        data = json.loads(f.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def last_error(log: Path) -> str:
    """The line that says why a trial failed: its ``error: ...`` line, else the last line of its log."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for ln in reversed(lines):
        if ln.startswith("error:") or re.match(r"^\w+(Error|Exception)\b", ln):
            return ln[:300]
    return lines[-1][:300] if lines else ""


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def ranked(trials: list[dict], goal: str) -> list[dict]:
    """Finished trials with a metric, best first; then finished without one; then failed."""
    sign = -1.0 if goal == "maximize" else 1.0

    def key(t):
        v = t.get("value")
        if t["state"] == "finished" and is_number(v):
            return (0, sign * v, t["trial"])
        return (1 if t["state"] == "finished" else 2, 0.0, t["trial"])

    return sorted(trials, key=key)


def write_results(path: Path, trials: list[dict], metric: Optional[str], goal: str, param_keys: list[str]) -> None:
    cols = ["rank", "trial", "state", metric or "metric", *param_keys, "wall_time_s", "exit_code", "run_dir", "note"]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for rank, t in enumerate(ranked(trials, goal), 1):
            w.writerow([rank, t["name"], t["state"], "" if t.get("value") is None else t["value"],
                        *[t["params"].get(k, "") for k in param_keys], t["wall_time_s"], t["exit_code"], t["run_dir"],
                        t["note"]])
    tmp.replace(path)


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def table(trials: list[dict], metric: Optional[str], goal: str, param_keys: list[str]) -> str:
    head = ["#", "trial", "state", metric or "metric", *param_keys, "time_s"]
    rows = [[str(i), t["name"], t["state"], fmt(t.get("value")), *[fmt(t["params"].get(k)) for k in param_keys],
             fmt(t["wall_time_s"])] for i, t in enumerate(ranked(trials, goal), 1)]
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def run_trial(command: list[str], log: Path, env: dict) -> int:
    with log.open("w") as f:
        f.write("$ " + " ".join(shlex.quote(c) for c in command) + "\n")
        f.flush()
        proc = subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT, env=env)
        try:
            return proc.wait()
        except BaseException:  # Ctrl-C: stop the trial before going
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def run_sweep(path: str, count: Optional[int] = None, out: Optional[str] = None, overrides: Optional[list] = None,
              seed: Optional[int] = None, echo=print) -> list[dict]:
    """Run the sweep; returns the trials (dicts) in the order they ran. Writes ``<out>/results.csv``."""
    from tqdm.auto import tqdm

    sw = engine()
    cfg = load_sweep(path)
    name = sweep_name(cfg, path)
    method = cfg["method"]
    metric = (cfg.get("metric") or {}).get("name")
    goal = (cfg.get("metric") or {}).get("goal", "minimize")
    overrides = list(overrides or [])
    for item in overrides:
        key = item.split("=", 1)[0]
        if "=" not in item or not key or key.startswith("-"):
            raise UserError(f"override {item!r}: expected key=value, e.g. trainer.max_epochs=1")
        spec = cfg["parameters"].get(key)
        if spec is not None and not (isinstance(spec, dict) and set(spec) == {"value"}):
            raise UserError(f"override {item!r}: {key} is a searched parameter of {path}; edit the sweep file instead")
        if key in RESERVED:
            raise UserError(f"override {item!r}: the runner sets {key} per trial; use --out DIR for the sweep's folder")
    if count is not None and count < 1:
        raise UserError(f"--count {count}: must be >= 1")
    if count is None and method != "grid":
        raise UserError(f"{path}: method={method} never runs out of trials; say how many with --count N")

    # an override of a constant parameter (``value: ...``) replaces it; other overrides follow the parameters
    fixed = {}
    for item in list(overrides):
        key, value = item.split("=", 1)
        if key in cfg["parameters"]:
            fixed[key] = value  # the text as given: it goes back into the command unchanged
            overrides.remove(item)

    out_dir = Path(out or Path("runs") / "sweeps" / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    if (out_dir / "results.csv").exists():
        raise UserError(f"--out {out_dir}: already holds a sweep (results.csv); pick another folder")
    if seed is not None:
        import numpy as np

        np.random.seed(seed)  # the engine draws random/bayes values from numpy's global generator

    def propose(runs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sw.next_run(cfg, runs)

    first = propose([])
    if first is None:
        raise UserError(f"{path}: the engine proposed no trial (an empty grid?)")
    total = count
    if method == "grid":
        grid_size = grid_points(cfg)
        total = min(count, grid_size) if count else grid_size
    param_keys = list(trial_params(first, fixed))
    base_extra = overrides + [f"run.dir={out_dir}"]
    precheck(cfg, path, trial_params(first, fixed), base_extra + [f"run.name={name}-trial-000"])

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sweep.yaml").write_text(Path(path).read_text())
    results = out_dir / "results.csv"
    echo(f"lit_gen.sweep: {name}: {method} search, {total} trial(s), metric {metric or '(none)'} ({goal}); "
         f"folder {out_dir}")
    if cfg.get("early_terminate"):
        echo("lit_gen.sweep: early_terminate is ignored by the local runner (every trial runs to its end)")
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"

    runs, trials = [], []
    best = None
    interrupted = False
    bar = tqdm(total=total, desc=f"sweep {name}", unit="trial", dynamic_ncols=True)
    try:
        proposal = first
        for i in range(1, total + 1):
            if proposal is None:
                proposal = propose(runs)
            if proposal is None:  # a grid ran out
                break
            params = trial_params(proposal, fixed)
            tname = f"{name}-trial-{i:03d}"
            run_dir = out_dir / tname
            command = build_command(cfg, params, base_extra + [f"run.name={tname}"])
            log = out_dir / f"{tname}.log"
            bar.write(f"[{tname}] " + " ".join(f"{k}={fmt(v)}" for k, v in params.items()))
            started = time.time()
            code = run_trial(command, log, env)
            final = read_final(run_dir) if code == 0 else {}
            value = final.get(metric) if metric else None
            note = ""
            if code != 0:
                state, note = "failed", f"exit {code}: {last_error(log)} (log: {log})"
            else:
                state = "finished"
                if metric and not is_number(value):
                    logged = ", ".join(sorted(k for k in final if "/" in k)[:12])
                    note = f"{metric} is not in {run_dir / 'final_metrics.json'} (it has: {logged})"
                    value = None
            trial = {"trial": i, "name": tname, "state": state, "value": value, "params": params,
                     "wall_time_s": round(time.time() - started, 1), "exit_code": code, "run_dir": str(run_dir),
                     "note": note}
            trials.append(trial)
            proposal.name = tname
            proposal.state = sw.RunState.finished if state == "finished" else sw.RunState.failed
            proposal.summary_metrics = {k: v for k, v in final.items() if is_number(v)}
            runs.append(proposal)
            proposal = None
            write_results(results, trials, metric, goal, param_keys)
            bar.write(f"[{tname}] {state}" + (f" {metric}={fmt(value)}" if value is not None else "")
                      + (f"; {note}" if note else ""))
            if is_number(value) and (best is None or (value > best if goal == "maximize" else value < best)):
                best = value
            if best is not None:
                bar.set_postfix_str(f"best {metric}={best:.4g}")
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        if trials:
            write_results(results, trials, metric, goal, param_keys)
    if trials:
        echo(table(trials, metric, goal, param_keys))
        echo(f"lit_gen.sweep: results {results}")
    if interrupted:
        raise SweepInterrupted(f"interrupted after {len(trials)} of {total} trial(s); "
                               f"the finished ones are in {results}")
    return trials


def grid_points(cfg: dict) -> int:
    n = 1
    for spec in cfg["parameters"].values():
        if isinstance(spec, dict) and "values" in spec:
            n *= max(1, len(spec["values"]))
        elif isinstance(spec, dict) and "parameters" in spec:
            n *= grid_points(spec)
    return n


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.sweep",
                         "Run a W&B sweep file locally (no W&B server): each trial is a subprocess of its command.")
    parser.epilog = EPILOG
    parser.add_argument("sweep", metavar="SWEEP_FILE", help="a W&B sweep file, e.g. sweeps/vae.yaml")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="number of trials (grid: default the whole grid; random/bayes: required)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="the sweep's folder (default runs/sweeps/<name>-<timestamp>)")
    parser.add_argument("--seed", type=int, default=None, help="seed numpy's generator (random/bayes proposals)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides for every trial")
    args = parser.parse_intermixed_args(argv)  # options may come between the file and the overrides
    trials = run_sweep(args.sweep, args.count, args.out, args.overrides, args.seed)
    if trials and all(t["state"] == "failed" for t in trials):
        print(f"error: all {len(trials)} trial(s) failed; first: {trials[0]['note']}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
