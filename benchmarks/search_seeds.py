"""How much of a search's "equal accuracy" is the luck of one initialisation?

Re-trains the baseline and the found architectures of a finished search (its output folder)
with the same full recipe under other seeds (initialisation, batch order, augmentation), and
prints each one's top-1 per seed, the mean and the spread. The search itself trains each model
once, with seed 0; on the 1,000 demo validation images one model's top-1 moves by several
points from one seed to the next, so a claim of equal accuracy should hold on the mean.

Usage: python benchmarks/search_seeds.py OUT_DIR [SEEDS]   (default seeds: 0,1,2; seed 0 is
read from OUT_DIR/full-train.json, not trained again)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from hwfit.nas.data import load_train_data
from hwfit.nas.demo import demo_path
from hwfit.nas.spaces import space_for
from hwfit.nas.train import TrainRecipe, train_and_evaluate


def main() -> None:
    out = Path(sys.argv[1])
    seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2").split(",")]
    if not (out / "search.json").is_file():
        sys.exit(f"{out} holds no finished search (search.json); run hwfit search first.")
    config = json.loads((out / "search-config.json").read_text())
    result = json.loads((out / "search.json").read_text())
    done = json.loads((out / "full-train.json").read_text())
    data_path = config["data"] or str(demo_path())
    data = load_train_data(data_path, resolution=config["resolution"])
    space = space_for(
        config["baseline"], num_classes=data.num_classes, resolution=config["resolution"]
    )
    recipe = float(config["plan"]["full_epochs"])  # the search's full recipe
    rows = [result["baseline"], *result["found"]]
    t0 = time.monotonic()
    print(
        f"{'role':<10}{'key':<14}{'ms':>7}"
        + "".join(f"{'seed ' + str(s):>9}" for s in seeds)
        + f"{'mean':>8}{'sd':>6}"
    )
    for row in rows:
        arch = space.decode(row["params"])
        top1 = []
        for seed in seeds:
            if seed == 0 and row["key"] in done:
                top1.append(float(done[row["key"]]["top1"]))
                continue
            torch.manual_seed(seed)
            model = space.build(arch)
            r = train_and_evaluate(
                model,
                data.at_resolution(space.resolution(arch)),
                TrainRecipe(epochs=recipe, seed=seed),
            )
            top1.append(r.top1)
        sd = statistics.stdev(top1) if len(top1) > 1 else float("nan")
        print(
            f"{row['role']:<10}{row['key']:<14}{row['measured_ms'] or float('nan'):>7.3f}"
            + "".join(f"{t:>9.1f}" for t in top1)
            + f"{statistics.mean(top1):>8.1f}{sd:>6.1f}"
        )
    print(f"{len(seeds)} seeds, {recipe:g} epochs each, {(time.monotonic() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
