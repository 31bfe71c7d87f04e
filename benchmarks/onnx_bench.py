"""Benchmark: `layerlint check` on an ONNX model with >= 1 GB of external weights.

Generates, in a temporary folder, a ResNet-like training-mode graph (Conv, BatchNorm,
Relu, residual Add, Dropout, Gemm) whose weights live in an external-data file. The
weight file is created sparse with ``truncate``: it has the full size but costs no disk
and no write time, and since neither ``onnx.load(..., load_external_data=False)`` nor
layerlint ever opens it, its contents do not matter.

Each measurement runs in a fresh Python process, started by a small parent that reads
the child's wall time and peak RSS (``resource.getrusage(RUSAGE_CHILDREN)``), so the
figures include interpreter start-up and imports, as a user sees them (best of
``--repeat`` runs; medians are in the JSON). The baseline is
``onnx.load(path, load_external_data=False)`` alone in the same kind of process. An
in-process timing (imports done, only the work measured) is reported too.

The same graph is then written with a tiny weight file, to show that peak RSS does not
depend on the weight size.

    python benchmarks/onnx_bench.py [--blocks 64] [--width 512] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx
from onnx import TensorProto, helper

_MEASURE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_kib": usage.ru_maxrss, "code": code}))  # ru_maxrss: KiB on Linux
"""

_LOAD_ONLY = ("import sys, onnx; "
              "onnx.load(sys.argv[1], load_external_data=False)")

_IN_PROCESS = r"""
import json, sys, time
from pathlib import Path
import onnx
from layerlint.engine import check_paths
from layerlint.registry import all_rules
path = sys.argv[1]
rules = all_rules()
load, lint = [], []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); onnx.load(path, load_external_data=False)
    load.append(time.perf_counter() - t)
    t = time.perf_counter(); result = check_paths([Path(path)], rules)
    lint.append(time.perf_counter() - t)
    assert not result.internal_errors, result.internal_errors
print(json.dumps({"load": min(load), "lint": min(lint), "findings": len(result.findings)}))
"""


def _external(name: str, dims: list[int], offset: int) -> tuple[TensorProto, int]:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    length = 4
    for d in dims:
        length *= d
    for key, value in (("location", "weights.bin"), ("offset", str(offset)),
                       ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor, offset + length


def build(folder: Path, blocks: int, width: int, kernel: int) -> tuple[Path, int]:
    """Write model.onnx and a sparse weights.bin; return the model path and weight bytes."""
    nodes, inits = [], []
    offset = 0

    def weight(name: str, dims: list[int]) -> str:
        nonlocal offset
        tensor, offset = _external(name, dims, offset)
        inits.append(tensor)
        return name

    ratio = helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.1])
    train = helper.make_tensor("train", TensorProto.BOOL, [], [True])
    inits += [ratio, train]
    x = "input"
    nodes.append(helper.make_node(
        "Conv", [x, weight("stem.weight", [width, 3, 3, 3])], ["stem"], name="/stem/Conv",
        pads=[1, 1, 1, 1]))
    x = "stem"
    for b in range(blocks):
        scope = f"/layers/layers.{b}"
        h = x
        for k in (1, 2):
            conv = weight(f"layers.{b}.conv{k}.weight", [width, width, kernel, kernel])
            nodes.append(helper.make_node(
                "Conv", [h, conv], [f"{scope}/conv{k}_out"], name=f"{scope}/conv{k}/Conv",
                pads=[kernel // 2] * 4))
            bn = [weight(f"layers.{b}.bn{k}.{p}", [width])
                  for p in ("weight", "bias", "running_mean", "running_var")]
            nodes.append(helper.make_node(
                "BatchNormalization", [f"{scope}/conv{k}_out", *bn],
                [f"{scope}/bn{k}_out", f"{scope}/bn{k}_rm", f"{scope}/bn{k}_rv"],
                name=f"{scope}/bn{k}/BatchNormalization", training_mode=1, momentum=0.9))
            nodes.append(helper.make_node("Relu", [f"{scope}/bn{k}_out"],
                                          [f"{scope}/relu{k}_out"], name=f"{scope}/relu{k}/Relu"))
            h = f"{scope}/relu{k}_out"
        nodes.append(helper.make_node("Add", [h, x], [f"{scope}/add_out"], name=f"{scope}/Add"))
        x = f"{scope}/add_out"
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["pooled"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="/Flatten"),
        helper.make_node("Dropout", ["flat", "ratio", "train"], ["dropped", "mask"],
                         name="/drop/Dropout"),
        helper.make_node("Gemm", ["dropped", weight("fc.weight", [1000, width]),
                                  weight("fc.bias", [1000])], ["logits"], name="/fc/Gemm",
                         transB=1),
    ]
    graph = helper.make_graph(
        nodes, "bench", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                       [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="layerlint-bench")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    with open(folder / "weights.bin", "wb") as handle:
        handle.truncate(offset)  # sparse: the size is real, the blocks are not written
    return path, offset


def _measure(command: list[str], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _MEASURE, *command],
                             capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out))
    bad = [r for r in runs if r["code"] not in (0, 1)]
    if bad:
        raise SystemExit(f"command failed: {' '.join(command)}")
    # Best of N: this 2-core machine is shared, and noise only ever adds time.
    return {"wall": min(r["wall"] for r in runs), "median": statistics.median(
        r["wall"] for r in runs), "cpu": min(r["cpu"] for r in runs),
            "rss_mib": max(r["rss_kib"] for r in runs) / 1024}


def run_case(label: str, path: Path, weight_bytes: int, repeat: int) -> dict[str, object]:
    load = _measure([sys.executable, "-c", _LOAD_ONLY, str(path)], repeat)
    lint = _measure([sys.executable, "-m", "layerlint", "check", "--select", "ALL",
                     str(path)], repeat)
    inner = json.loads(subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, str(path), str(repeat)],
        capture_output=True, text=True, check=True).stdout)
    graph = onnx.load(str(path), load_external_data=False).graph
    return {
        "case": label, "nodes": len(graph.node), "graph_file_kib": path.stat().st_size // 1024,
        "weights_mib": weight_bytes / 2**20,
        "process_load_s": load["wall"], "process_lint_s": lint["wall"],
        "process_load_median_s": load["median"], "process_lint_median_s": lint["median"],
        "process_ratio": lint["wall"] / load["wall"],
        "process_load_cpu_s": load["cpu"], "process_lint_cpu_s": lint["cpu"],
        "cpu_ratio": lint["cpu"] / load["cpu"],
        "load_rss_mib": load["rss_mib"], "lint_rss_mib": lint["rss_mib"],
        "inproc_load_ms": inner["load"] * 1e3, "inproc_lint_ms": inner["lint"] * 1e3,
        "findings": inner["findings"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=64)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="layerlint-onnx-bench-") as tmp:
        big, big_bytes = build(Path(tmp) / "big", args.blocks, args.width, kernel=3)
        small, small_bytes = build(Path(tmp) / "small", args.blocks, 8, kernel=1)
        assert big_bytes >= 2**30, "the large case must have at least 1 GiB of weights"
        rows.append(run_case("large weights", big, big_bytes, args.repeat))
        rows.append(run_case("small weights", small, small_bytes, args.repeat))
    print(f"{'case':<14} {'nodes':>5} {'weights':>10} | wall: {'load':>6} {'lint':>6} "
          f"{'ratio':>5} | cpu: {'load':>6} {'lint':>6} {'ratio':>5} | {'RSS load':>8} "
          f"{'RSS lint':>8} | in-process: {'load':>7} {'lint':>7}")
    for r in rows:
        print(f"{r['case']:<14} {r['nodes']:>5} {r['weights_mib']:>7.1f}MiB | "
              f"{r['process_load_s']:>11.3f}s {r['process_lint_s']:>5.3f}s "
              f"{r['process_ratio']:>5.2f} | {r['process_load_cpu_s']:>10.3f}s "
              f"{r['process_lint_cpu_s']:>5.3f}s {r['cpu_ratio']:>5.2f} | "
              f"{r['load_rss_mib']:>5.1f}MiB {r['lint_rss_mib']:>5.1f}MiB | "
              f"{r['inproc_load_ms']:>17.2f}ms {r['inproc_lint_ms']:>5.1f}ms")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
