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

Last, a model whose weights are embedded in the ``.onnx`` file itself (``--embedded-mib``,
default 1024; protobuf caps a file at 2 GiB) is timed against ``onnx.load`` (a full
parse, which is what a reader that does not skip payloads pays), with layerlint's
weightless reader alone and a whole ``layerlint check`` (fresh processes, peak RSS). The
payload bytes are holes in a sparse file: generating it costs no disk and no write time,
and a hole reads as zeros faster than real data would, which only favours ``onnx.load``.

    python benchmarks/onnx_bench.py [--blocks 64] [--width 512] [--repeat 5]
                                    [--embedded-mib 1024] [--only-embedded]
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

_READ_ONLY = ("import sys; from pathlib import Path; "
              "from layerlint.frontends.onnx.reader import read_model; "
              "read_model(Path(sys.argv[1]))")
_FULL_LOAD = "import sys, onnx; onnx.load(sys.argv[1])"

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


def build(folder: Path, blocks: int, width: int, kernel: int,
          embedded: bool = False) -> tuple[Path, int]:
    """Write model.onnx and a sparse weights.bin (or, ``embedded``, the weights inside
    model.onnx); return the model path and weight bytes."""
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
    if embedded:
        _save_embedded(model, path)
        return path, offset
    onnx.save(model, str(path))
    with open(folder / "weights.bin", "wb") as handle:
        handle.truncate(offset)  # sparse: the size is real, the blocks are not written
    return path, offset


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _save_embedded(model: onnx.ModelProto, path: Path) -> None:
    """Write ``model`` with each external tensor's bytes as its embedded ``raw_data``,
    streamed (fields may come in any order), the bytes left as holes of a sparse file."""
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    heads: list[tuple[bytes, int]] = []
    for tensor in graph.initializer:
        if tensor.data_location != TensorProto.EXTERNAL:
            heads.append((tensor.SerializeToString(), 0))
            continue
        length = int(next(e.value for e in tensor.external_data if e.key == "length"))
        tensor.ClearField("external_data")
        tensor.ClearField("data_location")
        heads.append((tensor.SerializeToString() + _varint(9 << 3 | 2) + _varint(length),
                      length))
    graph.ClearField("initializer")
    fields = [(_varint(5 << 3 | 2) + _varint(len(head) + length) + head, length)
              for head, length in heads]
    body = graph.SerializeToString()
    size = len(body) + sum(len(head) + length for head, length in fields)
    rest = onnx.ModelProto()
    rest.CopyFrom(model)
    rest.ClearField("graph")
    with open(path, "wb") as handle:
        handle.write(rest.SerializeToString() + _varint(7 << 3 | 2) + _varint(size) + body)
        for head, length in fields:
            handle.write(head)
            handle.seek(length, 1)
        handle.truncate()


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
                     "--no-cache", str(path)], repeat)
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


def run_embedded(path: Path, weight_bytes: int, repeat: int) -> dict[str, object]:
    """layerlint's reader and check against onnx.load's full parse, same file."""
    load = _measure([sys.executable, "-c", _FULL_LOAD, str(path)], repeat)
    read = _measure([sys.executable, "-c", _READ_ONLY, str(path)], repeat)
    lint = _measure([sys.executable, "-m", "layerlint", "check", "--select", "ALL",
                     "--no-cache", str(path)], repeat)
    # With the result cache on (the default): the first run writes, the best is warm.
    cached = _measure([sys.executable, "-m", "layerlint", "check", "--select", "ALL",
                       "--cache-dir", str(path.parent / "cache"), str(path)], repeat)
    empty = _measure([sys.executable, "-c", "pass"], repeat)
    inner = json.loads(subprocess.run(
        [sys.executable, "-c", _IN_PROCESS_READ, str(path), str(repeat)],
        capture_output=True, text=True, check=True).stdout)
    return {
        "case": "embedded", "file_mib": path.stat().st_size / 2**20,
        "weights_mib": weight_bytes / 2**20,
        "onnx_load_s": load["wall"], "read_s": read["wall"], "check_s": lint["wall"],
        "check_cached_s": cached["wall"], "check_cached_rss_mib": cached["rss_mib"],
        "python_start_s": empty["wall"],
        "read_vs_load": read["wall"] / load["wall"], "check_vs_load": lint["wall"] / load["wall"],
        "onnx_load_rss_mib": load["rss_mib"], "read_rss_mib": read["rss_mib"],
        "check_rss_mib": lint["rss_mib"], "python_start_rss_mib": empty["rss_mib"],
        "inproc_read_s": inner["read"], "inproc_read_peak_mib": inner["peak_mib"],
        "findings": inner["findings"],
    }


_IN_PROCESS_READ = r"""
import json, sys, time, tracemalloc
from pathlib import Path
from layerlint.engine import check_paths
from layerlint.frontends.onnx.reader import read_model
from layerlint.registry import all_rules
path = Path(sys.argv[1])
read_model(path)  # imports and the protobuf module: paid once per process
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); read_model(path); times.append(time.perf_counter() - t)
tracemalloc.start(); read_model(path); peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
result = check_paths([path], all_rules())
assert not result.internal_errors, result.internal_errors
print(json.dumps({"read": min(times), "peak_mib": peak / 2**20,
                  "findings": sorted(f.code for f in result.findings)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=64)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--embedded-mib", type=int, default=1024,
                        help="weights embedded in the large single-file model (< 2048)")
    parser.add_argument("--only-embedded", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="layerlint-onnx-bench-") as tmp:
        # 64 blocks of two 3x3 convs: width w gives about 64 * 2 * 9 * 4 * w^2 bytes.
        width = max(8, int((args.embedded_mib * 2**20 / (64 * 2 * 9 * 4)) ** 0.5))
        embedded, embedded_bytes = build(Path(tmp) / "embedded", 64, width, kernel=3,
                                         embedded=True)
        row = run_embedded(embedded, embedded_bytes, args.repeat)
        embedded.unlink()
        print(f"embedded weights: {row['file_mib']:.0f} MiB file | wall: onnx.load "
              f"{row['onnx_load_s']:.3f}s, layerlint read {row['read_s']:.3f}s "
              f"({row['read_vs_load']:.3f}x), check {row['check_s']:.3f}s "
              f"({row['check_vs_load']:.3f}x), cached check {row['check_cached_s']:.3f}s; "
              f"python alone {row['python_start_s']:.3f}s | "
              f"peak RSS: onnx.load {row['onnx_load_rss_mib']:.0f} MiB, read "
              f"{row['read_rss_mib']:.0f} MiB, check {row['check_rss_mib']:.0f} MiB, cached "
              f"{row['check_cached_rss_mib']:.0f} MiB, python "
              f"alone {row['python_start_rss_mib']:.0f} MiB | in-process read "
              f"{row['inproc_read_s'] * 1e3:.1f} ms, {row['inproc_read_peak_mib']:.1f} MiB "
              "allocated at peak")
        print(json.dumps(row, indent=2))
        if args.only_embedded:
            return
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
