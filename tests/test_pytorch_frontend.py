"""The PyTorch source frontend: what real code does becomes the right layer graph."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from layerlint.frontends import InputError, Project
from layerlint.frontends.python.source import load_graphs
from layerlint.ir import Kind, LayerGraph, Role


def graphs(tmp_path: Path, code: str, name: str = "model.py",
           files: dict[str, str] | None = None) -> dict[str, LayerGraph]:
    for other, text in (files or {}).items():
        path = tmp_path / other
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    header = HEADER if code.startswith(HEADER) else ""
    path.write_text(header + textwrap.dedent(code[len(header):]))
    others = [tmp_path / other for other in files or {}]
    project = Project([path, *others], display=lambda p: str(p.relative_to(tmp_path)))
    return {g.name: g for g in load_graphs(path, project)}


def chain(graph: LayerGraph) -> list[str]:
    """Op short names along the graph, in creation order, without the input."""
    return [layer.op.rsplit(".", 1)[-1] for layer in graph.layers if layer.kind is not Kind.INPUT]


def edges(graph: LayerGraph) -> set[tuple[str, str]]:
    return {
        (a.label, b.label) for a in graph.layers for b in graph.successors(a)
    }


HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def test_sequential_positional_and_ordereddict(tmp_path):
    result = graphs(tmp_path, HEADER + """
        from collections import OrderedDict
        a = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8))
        b = nn.Sequential(OrderedDict([("fc", nn.Linear(4, 8)), ("bn", nn.BatchNorm1d(8))]))
    """)
    assert chain(result["a"]) == ["Linear", "Dropout", "BatchNorm1d"]
    assert ("a[1]", "a[2]") in edges(result["a"])
    assert [lay.module_path for lay in result["b"].layers[1:]] == ["fc", "bn"]
    assert result["a"].role is Role.MODEL
    dropout = result["a"].layers[2]
    assert dropout.attrs["p"] == 0.5 and dropout.location.line == 6


def test_init_forward_nested_calls_locals_and_tuples(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.add_module("bn", nn.BatchNorm2d(8))
                setattr(self, "drop", nn.Dropout(0.2))

            def forward(self, x):
                y = self.bn(self.conv(x))
                a, b = y, y
                out = F.relu(a)
                out = out.relu_()
                return self.drop(out), b
    """)
    graph = result["Net"]
    assert chain(graph) == ["Conv2d", "BatchNorm2d", "relu", "relu_", "Dropout"]
    assert ("self.conv", "self.bn") in edges(graph)
    assert ("self.bn", "F.relu") in edges(graph)
    outputs = {graph.layers[i].label for i in graph.outputs}
    assert outputs == {"self.drop", "self.bn"}


@pytest.mark.parametrize("imports, dropout", [
    ("import torch.nn as nn", "nn.Dropout"),
    ("from torch import nn", "nn.Dropout"),
    ("from torch.nn import Dropout as D", "D"),
    ("import torch", "torch.nn.Dropout"),
    ("from torch.nn.modules.dropout import Dropout", "Dropout"),
])
def test_import_styles(tmp_path, imports, dropout):
    result = graphs(tmp_path, f"""
        import torch
        {imports}
        model = torch.nn.Sequential(torch.nn.Linear(2, 2), {dropout}(0.1))
    """)
    assert chain(result["model"]) == ["Linear", "Dropout"]
    assert result["model"].layers[2].kind is Kind.DROPOUT


def test_sequential_star_layers_built_in_loop_and_blocks_chain(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Block(nn.Module):
            def __init__(self, c, drop):
                super().__init__()
                self.bn = nn.BatchNorm2d(c)
                self.conv = nn.Conv2d(c, c, 3, bias=False)
                self.drop = nn.Dropout(drop)

            def forward(self, x):
                return self.drop(self.conv(F.relu(self.bn(x))))

        class Net(nn.Module):
            def __init__(self, depth=3):
                super().__init__()
                layers = []
                for i in range(depth):
                    layers.append(Block(16, 0.3))
                self.blocks = nn.Sequential(*layers)

            def forward(self, x):
                return self.blocks(x)

        net = Net(depth=3)
    """)
    graph = result["net"]
    drops = list(graph.of_kind(Kind.DROPOUT))
    assert len(drops) == 3
    first_bn = graph.first_reachable(drops[0], Kind.BATCHNORM)
    assert first_bn is not None and first_bn.module_path == "blocks.1.bn"
    assert drops[0].module_path == "blocks.0.drop" and drops[0].label == "self.drop"
    assert result["Block"].role is Role.BLOCK
    assert result["Net"].role is Role.MODEL
    # analysed on its own, the depth is unknown: the loop is followed twice
    assert len(list(result["Net"].of_kind(Kind.DROPOUT))) == 2


def test_modulelist_loop_and_enumerate(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
                self.norms = nn.ModuleList([nn.BatchNorm1d(4), nn.BatchNorm1d(4),
                                            nn.BatchNorm1d(4)])

            def forward(self, x):
                for i, layer in enumerate(self.layers):
                    x = self.norms[i](layer(x))
                return x
    """)
    assert chain(result["Net"]) == ["Linear", "BatchNorm1d"] * 3
    assert [lay.module_path for lay in result["Net"].layers[1:3]] == ["layers.0", "norms.0"]


def test_helpers_factories_partial_and_norm_layer_defaults(tmp_path):
    result = graphs(tmp_path, HEADER + """
        import functools

        def conv_bn(cin, cout, norm_layer=nn.BatchNorm2d):
            return nn.Sequential(nn.Conv2d(cin, cout, 3), norm_layer(cout))

        class Net(nn.Module):
            def __init__(self, norm_layer=None, act_layer=nn.ReLU):
                super().__init__()
                norm_layer = norm_layer or functools.partial(nn.BatchNorm2d, eps=1e-3)
                self.stem = conv_bn(3, 8)
                self.bn = norm_layer(8)
                self.act = act_layer(inplace=True)

            def forward(self, x):
                return self.act(self.bn(self.stem(x)))
    """)
    graph = result["Net"]
    assert chain(graph) == ["Conv2d", "BatchNorm2d", "BatchNorm2d", "ReLU"]
    assert graph.layers[3].attrs["eps"] == 0.001
    assert result["conv_bn"].role is Role.UNKNOWN


def test_conditions_fold_constants_and_name_the_rest(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Block(nn.Module):
            def __init__(self, drop_rate, use_bn=True):
                super().__init__()
                self.drop_rate = drop_rate
                self.conv = nn.Conv2d(3, 3, 3)
                if use_bn:
                    self.bn = nn.BatchNorm2d(3)
                else:
                    self.bn = nn.Identity()

            def forward(self, x):
                x = self.conv(x)
                if self.drop_rate > 0:
                    x = F.dropout(x, p=self.drop_rate, training=self.training)
                return self.bn(x)

        off = Block(0.0)
        on = Block(0.5, use_bn=False)
    """)
    unknown = result["Block"]
    drop = next(unknown.of_kind(Kind.DROPOUT))
    assert str(drop.condition) == "self.drop_rate > 0"
    assert drop.attrs["training"] is True
    assert not list(result["off"].of_kind(Kind.DROPOUT))
    on = result["on"]
    assert next(on.of_kind(Kind.DROPOUT)).condition is None
    assert not list(on.of_kind(Kind.BATCHNORM))


def test_functional_and_method_forms(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                x = torch.sigmoid(self.fc(x))
                x = F.batch_norm(x, None, None, training=True)
                x = x.view(x.size(0), -1)
                return x.softmax(dim=1)
    """)
    kinds = [lay.kind for lay in result["Net"].layers[1:]]
    assert kinds == [Kind.WEIGHTED, Kind.ACTIVATION, Kind.BATCHNORM, Kind.SHAPE, Kind.SOFTMAX]


def test_residual_add_and_concat_merge(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 3, 1)
                self.b = nn.Conv2d(3, 3, 1)

            def forward(self, x):
                y = self.a(x) + x
                return torch.cat([y, self.b(x)], dim=1)
    """)
    graph = result["Net"]
    cat = graph.layers[-1]
    assert cat.kind is Kind.MERGE
    add, conv_b = graph.predecessors(cat)
    assert (add.op, conv_b.label) == ("torch.add", "self.b")
    assert {lay.label for lay in graph.predecessors(add)} == {"self.a", "input"}


def test_project_imports_resolved_by_path(tmp_path):
    result = graphs(tmp_path, """
        import torch.nn as nn
        from .blocks import Block
        from pkg.layers import make_head

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
                self.head = make_head()

            def forward(self, x):
                return self.head(self.block(x))
    """, name="pkg/model.py", files={"pkg/blocks.py": """
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.1)

            def forward(self, x):
                return self.drop(x)
    """, "pkg/layers.py": """
        from torch import nn

        def make_head():
            return nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2))
    """, "pkg/__init__.py": ""})
    graph = result["Net"]
    assert chain(graph) == ["Dropout", "BatchNorm1d", "Linear"]
    assert graph.layers[1].location.path == "pkg/blocks.py"


def test_unresolvable_becomes_opaque_not_a_guess(tmp_path):
    result = graphs(tmp_path, HEADER + """
        from timm.layers import Attention

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = Attention(8)
                self.bn = nn.BatchNorm1d(8, momentum=momentum_from_config)

            def forward(self, x):
                return self.bn(self.attn(x))
    """)
    graph = result["Net"]
    assert [lay.kind for lay in graph.layers[1:]] == [Kind.OPAQUE, Kind.BATCHNORM]
    assert str(graph.layers[2].attrs["momentum"]) == "momentum_from_config"


def test_sequential_subclass(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class ConvBNAct(nn.Sequential):
            def __init__(self, cin, cout):
                super().__init__(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU())

        class ConvNorm(nn.Sequential):
            def __init__(self, cin, cout):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 1, bias=False)
                self.add_module("bn", nn.BatchNorm2d(cout))

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = ConvBNAct(3, 8)
                self.proj = ConvNorm(8, 8)

            def forward(self, x):
                return self.proj(self.stem(x))
    """)
    assert chain(result["Net"]) == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
    assert result["Net"].layers[2].module_path == "stem.1"


def test_files_without_framework_are_skipped_and_bad_input_raises(tmp_path):
    assert graphs(tmp_path, "x = 1\n") == {}
    with pytest.raises(InputError, match="syntax error"):
        graphs(tmp_path, "import torch\ndef f(:\n")
    path = tmp_path / "latin.py"
    path.write_bytes(b"import torch\nx = '\xe9'\n")
    with pytest.raises(InputError, match="decode"):
        load_graphs(path, Project([path], display=str))


def test_deep_nesting_and_recursion_do_not_crash(tmp_path):
    deep = "import torch\nx = " + "(" * 3000 + "1" + ")" * 3000 + "\n"
    with pytest.raises(InputError, match="nested|syntax"):  # ast refuses it before LibCST
        graphs(tmp_path, deep)
    result = graphs(tmp_path, HEADER + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.child = Net()

            def forward(self, x):
                return self.child(x)
    """)
    # the self-containing child is cut at the recursion: an opaque layer, not a crash
    assert [lay.kind for lay in result["Net"].layers] == [Kind.INPUT, Kind.OPAQUE]


def test_keyword_dicts_follow_setdefault_pop_and_update(tmp_path):
    result = graphs(tmp_path, HEADER + """
        def make_conv(cin, cout, **kwargs):
            kwargs.setdefault("bias", False)
            padding = kwargs.pop("padding", 0)
            return nn.Conv2d(cin, cout, 3, padding=padding, **kwargs)

        def make_bn(c, **kwargs):
            opts = dict(momentum=0.1)
            opts.update(kwargs)
            opts["eps"] = 1e-3
            return nn.BatchNorm2d(c, **opts)

        model = nn.Sequential(make_conv(3, 8, padding=1), make_bn(8, momentum=0.9))
    """)
    conv, bn = result["model"].layers[1:]
    assert conv.attrs["bias"] is False and conv.attrs["padding"] == 1
    assert bn.attrs["momentum"] == 0.9 and bn.attrs["eps"] == 0.001


def test_a_value_passed_on_unchanged_by_one_branch_carries_that_branch_condition(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Net(nn.Module):
            def __init__(self, use_head=True, pre_logits=False):
                super().__init__()
                self.drop = nn.Dropout(0.5)
                self.head = nn.Linear(8, 10)
                self.use_head, self.pre_logits = use_head, pre_logits

            def forward(self, x):
                x = self.drop(x)
                if self.use_head:
                    x = self.head(x)
                return x if self.pre_logits else x.relu()
    """)
    graph = result["Net"]
    passthroughs = [lay for lay in graph.layers if lay.label == "(unchanged)"]
    assert {str(lay.condition) for lay in passthroughs} == {
        "not (self.use_head)", "self.pre_logits"}
    assert all(lay.kind is Kind.SHAPE for lay in passthroughs)


def test_a_dropout_rate_defaulting_to_zero_is_present_only_when_set(tmp_path):
    result = graphs(tmp_path, HEADER + """
        class Attention(nn.Module):
            def __init__(self, dim, attn_drop=0., proj_drop=0.1):
                super().__init__()
                self.attn_drop = nn.Dropout(attn_drop)
                self.proj_drop = nn.Dropout(proj_drop)

            def forward(self, x):
                return self.proj_drop(self.attn_drop(x))
    """)
    attn, proj = result["Attention"].layers[1:]
    assert str(attn.condition) == "attn_drop > 0"
    assert proj.condition is None and str(proj.attrs["p"]) == "proj_drop"
