"""Estimate the wall time of the full evidence suite on N workers from measured trials.

    python benchmarks/evidence_sweep_estimate.py                     # CPU, 1 trial each
    python benchmarks/evidence_sweep_estimate.py --device cuda --workers 8 --per-gpu 4

Runs ONE full-mode trial of every rule's evidence module (seed 0, its first arm) and
one trial of the seed-orderings study (full design: 20 epochs, a 5-fold split), times
each, and multiplies by the number of trials the full suite runs: per rule, arms x full
seeds + 1 determinism rerun; the study, 11 orderings x 10 seeds x 5 folds. Arms of a
rule differ in layer order, not in size, so one arm's time stands for all of them.

The estimate for N workers (each GPU running ``--per-gpu`` trials at once) is the total
trial time over the slots, plus the longest trial (the tail); it assumes a trial on a
worker takes what it took here, so a CPU measurement says nothing about GPU speed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=8, help="GPUs (or worker nodes)")
    parser.add_argument("--per-gpu", type=int, default=1, help="concurrent trials per worker")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)

    import torch

    from layerlint.evidence import study
    from layerlint.evidence.context import Context, configure_determinism
    from layerlint.evidence.harness import cpu_model
    from layerlint.evidence.runner import discover

    device = torch.device(args.device)
    configure_determinism(device, 1)
    ctx = Context(mode="full", device=device)
    rows = []
    for code, name in discover().items():
        module = importlib.import_module(name)
        if not module.ARMS:
            continue
        started = time.perf_counter()
        module.run_arm(ctx, 0, module.ARMS[0])
        seconds = time.perf_counter() - started
        trials = len(module.ARMS) * module.SEEDS["full"] + 1
        rows.append({"what": code, "trial_s": round(seconds, 2), "trials": trials})
        print(f"{code}: {seconds:6.2f} s/trial x {trials} trials", flush=True)
    started = time.perf_counter()
    study._trial(ctx, study.CANONICAL, 0, 0, 5, 20)
    seconds = time.perf_counter() - started
    orderings = len(study.ORDERINGS) + 1
    rows.append({"what": "seed-orderings", "trial_s": round(seconds, 2),
                 "trials": orderings * 10 * 5})
    print(f"seed-orderings: {seconds:6.2f} s/trial x {orderings * 10 * 5} trials")
    total = sum(r["trial_s"] * r["trials"] for r in rows)
    slots = args.workers * args.per_gpu
    wall = total / slots + max(r["trial_s"] for r in rows)
    where = (torch.cuda.get_device_name(0) if device.type == "cuda" else cpu_model())
    print(f"measured on {device.type} ({where}), torch {torch.__version__}")
    print(f"total trial time {total / 60:.1f} min; on {args.workers} workers x "
          f"{args.per_gpu} concurrent trials: about {wall / 60:.1f} min wall")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "total_s": total, "slots": slots,
                                         "wall_s": wall, "device": where}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
