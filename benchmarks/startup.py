"""Start-up time: `import compgen`, first use, and `--help`, each in fresh processes.

    python benchmarks/startup.py [--runs 9] [--out benchmarks/results]

Writes startup.json (every run and the medians) and startup.png. Each case runs ``--runs``
times, interleaved, so a busy machine slows all cases alike; `import torch` alone is measured
beside them, since PyTorch's own import is what the first use of compgen pays.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from compgen.files import write_json

CASES = {
    "import torch": [sys.executable, "-c", "import torch"],
    "import compgen": [sys.executable, "-c", "import compgen"],
    "import compgen + first use": [sys.executable, "-c", "import compgen; compgen.GaussianMixture"],
    "python -m compgen --help": [sys.executable, "-m", "compgen", "--help"],
    "python -m compgen sample --help": [sys.executable, "-m", "compgen", "sample", "--help"],
}
TARGETS = {"import compgen": 1.0, "python -m compgen --help": 1.5}  # seconds (issue 22)


def measure(runs: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, command in CASES.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def plot(medians: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    names = list(medians)
    ax.barh(names, [medians[n] for n in names], color="C0")
    for name, target in TARGETS.items():
        ax.plot([target, target], [names.index(name) - 0.4, names.index(name) + 0.4], "r-", lw=2)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (median of fresh processes; red: target)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    seconds = measure(args.runs)
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"runs": args.runs, "median_seconds": medians, "seconds": seconds, "targets": TARGETS,
              "python": sys.version.split()[0]}
    write_json(out / "startup.json", result)
    plot(medians, out / "startup.png")
    for name, median in medians.items():
        target = f" (target < {TARGETS[name]:.1f})" if name in TARGETS else ""
        print(f"{name:34s} median {median:.3f}s{target}")


if __name__ == "__main__":
    main()
