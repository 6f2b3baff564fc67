"""Train and export the optimizers shipped in ``amalg/pretrained/`` (``make pretrained``).

Each recipe is an ``amalg run`` from a fixed seed on the offline default task with teachers at
their tuned learning rates, then ``amalg export`` of its student into
``amalg/pretrained/NAME.safetensors`` with a card saying how it was trained. A finished run in
``--work`` is reused, so a rerun only exports; ``--only NAME`` makes one of them.

- ``rnnprop-mean-digits``: RNNProp distilled from tuned Adam and RMSProp by the mean scheme,
  the best scheme of the measurement of optimal choice and perturbations
  (``benchmarks/RESULTS.md``: +0.028 against the oracle on ``digits_cnn``, ahead of choice
  and min-max); the default budget of ``amalg run``.
- ``small_fc_lopt-pes-digits``: small_fc_lopt (Metz et al. 2022, Appendix A) trained by
  persistent ES with ``recipes/pes-digits.toml`` (the recipe ``benchmarks/learned_optimizers.py``
  measures), seed 2. Of the three
  seeds measured there, seed 0 never left its initialisation (meta-validation 0.83 throughout)
  and seed 2 ended with the best meta-validation (-1.33, seed 1 -0.74): the seed is chosen on
  meta-training's own validation, never on the evaluation suite, as Metz et al. 2022 report
  their best seed and learning rate (Appendix D).

Usage::

    python scripts/pretrained.py [--work results/pretrained] [--only NAME] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "amalg" / "pretrained"
PES_RECIPE = ["--config", str(ROOT / "recipes" / "pes-digits.toml")]
RECIPES: dict[str, tuple[list[str], int, str]] = {
    "rnnprop-mean-digits": (
        ["--teacher", "adam", "--teacher", "rmsprop", "--scheme", "mean"],
        0,
        "RNNProp distilled from tuned Adam and RMSProp by the mean scheme on the digits CNN",
    ),
    "small_fc_lopt-pes-digits": (
        PES_RECIPE,
        2,
        "small_fc_lopt (Metz et al. 2022) meta-trained by persistent ES on the digits CNN",
    ),
}


def amalg(*args: str, threads: int) -> None:
    print("$ amalg " + " ".join(args), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run([sys.executable, "-m", "amalg", *args], env=env)
    if result.returncode != 0:
        raise SystemExit(f"amalg {' '.join(args)} failed with exit code {result.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("results") / "pretrained")
    parser.add_argument("--only", choices=sorted(RECIPES), action="append")
    parser.add_argument("--jobs", type=int, default=1, help="Runs trained at once.")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AMALG_TUNING_DIR", str(work / "tuning"))
    names = args.only or sorted(RECIPES)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    # Teachers are tuned once, before runs start side by side.
    amalg("tune", "--teacher", "adam", "--teacher", "rmsprop", "--task", "digits_cnn",
          threads=os.cpu_count() or 1)  # fmt: skip

    def make(name: str) -> None:
        flags, seed, description = RECIPES[name]
        folder = work / name
        resume = ["--resume"] if (folder / "config.json").exists() else []
        amalg("run", *flags, "--seed", str(seed), "--out", str(folder), *resume, threads=threads)
        amalg("export", str(folder), "--out", str(TARGET / f"{name}.safetensors"),
              "--name", name, "--description", description, threads=1)  # fmt: skip

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(make, names))


if __name__ == "__main__":
    main()
