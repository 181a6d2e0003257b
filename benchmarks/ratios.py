"""Prints the fused-against-reference table from a pytest-benchmark JSON file.

    pytest benchmarks/ --benchmark-json /tmp/bench.json
    python benchmarks/ratios.py /tmp/bench.json

Speedup is the reference's median time over the fused one's: above 1, fused is faster.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="file written by pytest --benchmark-json")
    benchmarks = json.load(open(parser.parse_args().json))["benchmarks"]

    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in benchmarks:
        groups[bench["group"]][bench["params"]["backend"]] = bench

    print(f"{'benchmark':<48} {'reference':>12} {'fused':>12} {'ratio':>7}")
    for group, pair in groups.items():
        if set(pair) != {"reference", "fused"}:
            continue
        reference, fused = pair["reference"], pair["fused"]
        if "peak_bytes" in reference["extra_info"]:
            ref_value, fused_value = reference["extra_info"]["peak_bytes"], fused["extra_info"]["peak_bytes"]
            print(f"{group:<48} {ref_value / 2**20:>9.1f} MiB {fused_value / 2**20:>9.1f} MiB "
                  f"{fused_value / ref_value:>6.2f}x of reference")
        else:
            ref_value, fused_value = reference["stats"]["median"], fused["stats"]["median"]
            print(f"{group:<48} {ref_value * 1e3:>9.2f} ms {fused_value * 1e3:>9.2f} ms {ref_value / fused_value:>6.2f}x")


if __name__ == "__main__":
    main()
