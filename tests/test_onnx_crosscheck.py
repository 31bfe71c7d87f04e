"""Cross-check: a torch model exported to ONNX in training mode gets the findings its source gets.

The models are the classes of ``fixtures/torch/`` themselves (the test imports those
fixture files, which are this project's own code, to build them with random weights);
each is exported with the settings the README documents, and the findings of the
architecture rules on the source graph and on the ONNX graph are compared as sets of
(rule code, module path of the reported layer).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

from layerlint.frontends import Project, load_graphs
from layerlint.ir import Kind, LayerGraph
from layerlint.registry import all_rules
from layerlint.rule import Rule

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "torch"

# (fixture file, class, constructor kwargs, input shape)
CASES = [
    ("mlp.py", "MLPClassifier", {"in_dim": 48, "hidden": 16}, (4, 48)),
    ("mlp.py", "DeepMLP", {"in_dim": 48, "width": 16, "depth": 2}, (4, 48)),
    ("keras_port.py", "KerasCifarNet", {}, (2, 3, 32, 32)),
    ("vgg.py", "VGGCifar", {}, (2, 3, 32, 32)),
    ("wide_resnet.py", "WideResNet", {"depth": 16, "widen_factor": 1}, (2, 3, 32, 32)),
    # The head is `nn.Linear(...) if num_classes > 0 else nn.Identity()`: the source
    # reports no LL105 at head_drop (the path to the output exists only when num_classes
    # is 0), and neither does the export with num_classes=10.
    ("fastvit_like.py", "FastVit", {"embed_dims": (8, 16, 32, 64), "num_classes": 10,
                                    "proj_drop_rate": 0.1, "drop_rate": 0.1}, (2, 3, 64, 64)),
    ("densenet.py", "DenseNet", {"growth_rate": 4, "num_init_features": 8, "bn_size": 2,
                                  "num_classes": 10}, (2, 3, 32, 32)),
]


def _import(path: Path):
    name = f"_crosscheck_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _findings(graph: LayerGraph, monkeypatch) -> dict[tuple[str, str | None], bool]:
    """(code, module path) of every architecture-rule finding -> whether it is conditional."""
    reported: dict[tuple[str, str | None], bool] = {}
    original = Rule.report

    def spy(self, layer, related=(), **fields):
        finding = original(self, layer, related, **fields)
        key = (self.code, layer.module_path)
        reported[key] = reported.get(key, True) and "(when " in finding.message
        return finding

    monkeypatch.setattr(Rule, "report", spy)
    for rule in all_rules():
        if rule.default_enabled and not rule.code.startswith("LL0"):
            list(rule().check(graph))
    monkeypatch.setattr(Rule, "report", original)
    return reported


@pytest.mark.parametrize(("fixture", "cls", "kwargs", "shape"), CASES,
                         ids=[f"{c.values[1] if hasattr(c, 'values') else c[1]}-{i}"
                              for i, c in enumerate(CASES)])
def test_onnx_export_matches_source(fixture, cls, kwargs, shape, tmp_path, monkeypatch):
    source = FIXTURES / fixture
    (graph,) = [g for g in load_graphs(source, Project([source], str)) if g.name == cls]
    expected = _findings(graph, monkeypatch)
    assert expected, f"{cls}: the fixture should have findings to compare"

    torch.manual_seed(0)
    model = getattr(_import(source), cls)(**kwargs).train()
    exported = tmp_path / f"{cls}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*shape),), str(exported), dynamo=False,
                          training=torch.onnx.TrainingMode.TRAINING,
                          do_constant_folding=False)
    (onnx_graph,) = load_graphs(exported, Project([exported], str))
    assert not onnx_graph.notes and onnx_graph.hidden is None  # a training export hides nothing
    found = set(_findings(onnx_graph, monkeypatch))
    # The export is one concrete model: a finding the source reports only under a
    # condition (`if drop_rate > 0`, `... if num_classes > 0 else nn.Identity()`) may or
    # may not be in it; every other finding must be there, and nothing more.
    unconditional = {key for key, conditional in expected.items() if not conditional}
    assert unconditional <= found, f"missing in ONNX: {unconditional - found}"
    assert found <= set(expected), f"only in ONNX: {found - set(expected)}"
    assert found, f"{cls}: the export should have findings to compare"


def test_eval_export_gets_ll002_instead_of_findings(tmp_path):
    source = FIXTURES / "mlp.py"
    model = _import(source).MLPClassifier(in_dim=48, hidden=16).eval()
    exported = tmp_path / "eval.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(4, 48),), str(exported), dynamo=False)
    (graph,) = load_graphs(exported, Project([exported], str))
    assert graph.hidden.kinds == {Kind.DROPOUT} and "no Dropout node" in graph.hidden.why
