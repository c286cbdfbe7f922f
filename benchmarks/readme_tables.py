"""Print the README's result tables from the benchmark JSON (so the README quotes, not retypes)."""

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def fidelity_grid(path: Path = RESULTS / "fidelity.json") -> str:
    """Rows: task x components; columns: samplers; cells: W2/floor (exact-LL gap in nats)."""
    data = json.loads(path.read_text())
    samplers = list(dict.fromkeys(r["sampler"] for r in data["rows"]))
    lines = ["| task | components | " + " | ".join(samplers) + " |",
             "|---|---|" + "---|" * len(samplers)]
    cells: dict = {}
    for r in data["rows"]:
        m = r["metrics"]
        text = "n/a" if "error" in m else f"{m['w2_over_floor']:.2f} ({m['ll_gap']:+.2f})"
        cells.setdefault((r["task"], r["kind"]), {})[r["sampler"]] = text
    for (task, kind), row in cells.items():
        lines.append(f"| {task} | {kind} | " + " | ".join(row.get(s, "") for s in samplers) + " |")
    return "\n".join(lines)


def cost_table(path: Path = RESULTS / "fidelity.json", task: str = "product") -> str:
    """Evaluations per chain and samples/s per sampler, on one task."""
    data = json.loads(path.read_text())
    lines = ["| components | sampler | acceptance | evaluations / chain | samples / s |",
             "|---|---|---|---|---|"]
    for r in data["rows"]:
        m = r["metrics"]
        if r["task"] != task or "error" in m:
            continue
        acc = "-" if m["acceptance"] != m["acceptance"] else f"{m['acceptance']:.2f}"
        lines.append(f"| {r['kind']} | {r['sampler']} | {acc} | {m['evaluations']} "
                     f"| {m['samples_per_second']:.0f} |")
    return "\n".join(lines)


def robustness(path: Path = RESULTS / "robustness.json") -> str:
    """The generated-task summary (the table the benchmark itself writes to robustness.md)."""
    return json.loads(path.read_text())["table"]


if __name__ == "__main__":
    tables = {"cost": cost_table, "robustness": robustness}
    print(tables.get(sys.argv[1] if sys.argv[1:] else "", fidelity_grid)())
