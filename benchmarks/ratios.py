"""Prints the side-by-side table from a pytest-benchmark JSON file.

    pytest benchmarks/ --benchmark-json /tmp/bench.json
    python benchmarks/ratios.py /tmp/bench.json

Each group holds one measurement of a baseline and of what is measured
against it: the reference backend and the fused one, the seed step in
plain PyTorch and pygan's, or StyleGAN2's modulated convolution with the
shared kernel and with per-sample kernels (grouped). Speedup is the baseline's median time over the
other's: above 1, the fused backend (or pygan) is faster.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

# The parameter that tells the two sides of a group apart: (baseline, measured).
SIDES = {"backend": ("reference", "fused"), "implementation": ("plain", "pygan"), "modulation": ("shared", "grouped")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="file written by pytest --benchmark-json")
    benchmarks = json.load(open(parser.parse_args().json))["benchmarks"]

    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in benchmarks:
        for param, sides in SIDES.items():
            if bench["params"] and param in bench["params"]:
                groups[bench["group"]][bench["params"][param]] = bench
                groups[bench["group"]]["sides"] = sides

    print(f"{'benchmark':<72} {'baseline':>12} {'measured':>12} {'ratio':>7}")
    for group, pair in groups.items():
        baseline_name, measured_name = pair["sides"]
        if baseline_name not in pair or measured_name not in pair:
            continue
        baseline, measured = pair[baseline_name], pair[measured_name]
        label = f"{group} ({measured_name} vs {baseline_name})"
        if "peak_bytes" in baseline["extra_info"]:
            base_value, value = baseline["extra_info"]["peak_bytes"], measured["extra_info"]["peak_bytes"]
            print(f"{label:<72} {base_value / 2**20:>8.1f} MiB {value / 2**20:>8.1f} MiB "
                  f"{value / base_value:>6.2f}x of {baseline_name}")
        else:
            base_value, value = baseline["stats"]["median"], measured["stats"]["median"]
            print(f"{label:<72} {base_value * 1e3:>9.2f} ms {value * 1e3:>9.2f} ms {base_value / value:>6.2f}x")


if __name__ == "__main__":
    main()
