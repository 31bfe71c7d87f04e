"""The Keras source frontend: every model style lowers to the same layer graph."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from layerlint.frontends import Project
from layerlint.frontends.python.source import load_graphs
from layerlint.ir import BatchNorm, Kind, LayerGraph, MomentumConvention, Role, Unresolved


@pytest.fixture
def graphs(tmp_path):
    def build(code: str, name: str = "model.py") -> dict[str, LayerGraph]:
        path = tmp_path / name
        path.write_text(textwrap.dedent(code))
        found = load_graphs(path, Project([path], display=str))
        return {graph.name: graph for graph in found}

    return build


def chain(graph: LayerGraph) -> list[str]:
    """The ops of a graph that is one chain, input to output."""
    ops = [graph.layers[0]]
    while graph.successors(ops[-1]):
        (nxt,) = graph.successors(ops[-1])
        ops.append(nxt)
    assert len(ops) == len(graph.layers)
    return [layer.op.rsplit(".", 1)[-1] for layer in ops]


@pytest.mark.parametrize("imports, prefix", [
    ("import keras", "keras.layers."),
    ("from keras import layers", "layers."),
    ("from tensorflow import keras", "keras.layers."),
    ("import tensorflow as tf", "tf.keras.layers."),
    ("import tensorflow.keras.layers as kl", "kl."),
    ("import tf_keras as keras", "keras.layers."),
    ("import keras_core as keras", "keras.layers."),
    ("from tensorflow.compat.v1 import keras", "keras.layers."),
    ("import keras.src.layers as L", "L."),
    ("from tensorflow.keras.layers import Dense, Dropout", ""),
    ("from keras.layers import *", ""),
])
def test_import_styles_canonicalise_to_keras(graphs, imports, prefix):
    found = graphs(f"""
        {imports}
        import keras as _k
        model = _k.Sequential([{prefix}Dense(8), {prefix}Dropout(0.5)])
    """)
    assert [lay.op for lay in found["model"].layers] == [
        "keras.layers.Dense", "keras.layers.Dropout"]
    assert found["model"].role is Role.MODEL


def test_sequential_list_built_in_a_loop_unrolls_each_item(graphs):
    found = graphs("""
        import keras
        from keras import layers
        stack = [layers.Flatten()]
        for units in (256, 128):
            stack += [layers.Dense(units), layers.Dropout(0.5)]
            stack.append(layers.BatchNormalization())
        mlp = keras.Sequential(stack)
    """)
    assert chain(found["mlp"]) == ["Flatten"] + ["Dense", "Dropout", "BatchNormalization"] * 2


def test_add_chain_through_helper_receiving_the_model(graphs):
    found = graphs("""
        import tensorflow as tf
        from tensorflow.keras import layers

        def add_block(model, units):
            model.add(layers.Dense(units, use_bias=False))
            model.add(layers.BatchNormalization())
            model.add(layers.ReLU())

        def build():
            model = tf.keras.Sequential()
            for units in [64, 32, 16]:
                add_block(model, units)
            model.add(layers.Dense(1, activation="sigmoid"))
            model.compile(loss="binary_crossentropy")
            return model
    """)
    graph = found["model"]
    # the compiled loss, named by a string, follows the output
    assert chain(graph) == ["Dense", "BatchNormalization", "ReLU"] * 3 + [
        "Dense", "sigmoid", "BinaryCrossentropy"]
    assert graph.layers[-1].info.expects == "binary_probs_clipped"
    assert graph.role is Role.MODEL
    assert [lay.attrs["use_bias"] for lay in graph.of_kind(Kind.WEIGHTED)] == [
        False, False, False, True]


def test_uncompiled_sequential_returned_by_a_helper_is_analysed_but_not_a_model(graphs):
    # used as a block elsewhere: its end is not the model's output, but its inside is
    # checked (as a PyTorch builder function's is)
    found = graphs("""
        import keras
        def dense_block(units):
            return keras.Sequential([keras.layers.Dense(units), keras.layers.Dropout(0.3)])
    """)
    assert [(g.role, [lay.op for lay in g.layers]) for g in found.values()] == [
        (Role.UNKNOWN, ["keras.layers.Dense", "keras.layers.Dropout"])]


def test_functional_api_with_helper_blocks_and_residual_add(graphs):
    found = graphs("""
        import keras
        from keras import layers

        def conv_block(x, filters):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            return layers.Activation("relu")(x)

        def build():
            inputs = keras.Input(shape=(32, 32, 3))
            x = conv_block(inputs, 32)
            y = conv_block(x, 32)
            x = layers.add([x, y])
            z = layers.Add()([x, y])
            x = layers.concatenate([x, z])
            x = layers.GlobalAveragePooling2D()(x)
            outputs = layers.Dense(10, activation="softmax", name="logits")(x)
            return keras.Model(inputs, outputs)
    """)
    graph = found["build"]
    assert graph.role is Role.MODEL
    by_op = {}
    for layer in graph.layers:
        by_op.setdefault(layer.op.rsplit(".", 1)[-1], []).append(layer)
    add, = by_op["add"]
    assert [p.op for p in graph.predecessors(add)] == ["keras.layers.Activation"] * 2
    merge_add, = by_op["Add"]
    assert {p.op for p in graph.predecessors(merge_add)} == {
        "keras.layers.add", "keras.layers.Activation"}
    assert by_op["Input"][0].kind is Kind.INPUT
    softmax = graph.layers[-1]
    assert softmax.kind is Kind.SOFTMAX and graph.is_output(softmax)
    assert softmax.location == by_op["Dense"][0].location  # the fused activation
    assert by_op["Dense"][0].label == "logits"
    # a helper the file calls is analysed where it is called, not again on its own
    assert set(found) == {"build"}


def test_functional_model_keeps_only_layers_feeding_its_outputs(graphs):
    found = graphs("""
        import keras
        from keras import layers
        inputs = keras.Input((8,))
        unused = layers.Dropout(0.5)(inputs)
        out = layers.Dense(1)(inputs)
        model = keras.Model(inputs=inputs, outputs=out)
    """)
    (graph,) = found.values()
    assert [lay.op for lay in graph.layers] == ["keras.Input", "keras.layers.Dense"]


def test_subclassed_layer_and_model(graphs):
    found = graphs("""
        import tensorflow as tf
        from tensorflow import keras
        from tensorflow.keras import layers

        class Block(layers.Layer):
            def __init__(self, filters, rate=0.1):
                super().__init__()
                self.conv = layers.Conv2D(filters, 3)
                self.bn = layers.BatchNormalization(-1, 0.3, 1e-5)
                self.drop = layers.Dropout(rate) if rate else None

            def call(self, x, training=False):
                h = self.bn(self.conv(x), training=training)
                h = tf.nn.relu(h)
                if self.drop is not None:
                    h = self.drop(h, training=training)
                return h + x

        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.b1 = Block(32)
                self.b2 = Block(64, rate=0.5)
                self.head = layers.Dense(10)

            def call(self, x):
                return self.head(self.b2(self.b1(x)))
    """)
    block, net = found["Block"], found["Net"]
    assert block.role is Role.BLOCK and net.role is Role.MODEL
    conv, bn, relu, drop, add = block.layers
    assert (conv.label, bn.label, drop.label) == ("self.conv", "self.bn", "self.drop")
    assert bn.attrs["momentum"] == 0.3 and bn.attrs["epsilon"] == 1e-5
    assert bn.batchnorm == BatchNorm(0.3, MomentumConvention.RUNNING)
    assert relu.info.activation == "relu"
    # analysed on its own, the class may be built with any rate: the dropout is there
    # only when one is given, and its rate is that argument
    # (``self.drop is not None`` then holds: a layer is not None)
    assert drop.attrs["p"] == Unresolved("rate")
    assert str(drop.condition) == "rate"
    assert bn.use is not None and bn.use.line == 14  # applied in call(), defined in __init__
    # the dropout exists only when ``rate``: its condition says so
    assert [p.id for p in block.predecessors(add)] == [drop.id]
    assert block.predecessors(drop) == [relu]
    labels = [lay.label for lay in net.layers]
    assert labels[:2] == ["self.b1.conv", "self.b1.bn"]
    assert "self.b2.drop" in labels and labels[-1] == "self.head"
    b2_drop = next(lay for lay in net.layers if lay.label == "self.b2.drop")
    assert b2_drop.attrs["p"] == 0.5
    # block 1's output feeds block 2's conv
    b2_conv = next(lay for lay in net.layers if lay.label == "self.b2.conv")
    assert [p.op for p in net.predecessors(b2_conv)] == ["keras.ops.add"]


def test_subclass_layers_in_a_list_applied_in_a_loop(graphs):
    found = graphs("""
        import keras
        class Tower(keras.Model):
            def __init__(self, depth):
                super().__init__()
                self.blocks = [keras.layers.Dense(64, activation="gelu") for _ in range(depth)]
                self.norm = keras.layers.LayerNormalization()
            def call(self, x):
                for block in self.blocks:
                    x = block(x)
                return self.norm(x)
    """)
    assert chain(found["Tower"]) == ["Dense", "gelu", "Dense", "gelu", "LayerNormalization"]


def test_activation_sugar(graphs):
    found = graphs("""
        import tensorflow as tf
        import keras
        from keras import layers
        model = keras.Sequential([
            layers.Dense(4, activation=tf.nn.relu),
            layers.Dense(4, activation=keras.activations.swish),
            layers.Dense(4, "tanh"),
            layers.Dense(4, activation=None),
            layers.Dense(4, activation="linear"),
            layers.Dense(4, activation=layers.LeakyReLU(0.2)),
            layers.Activation("softmax"),
            layers.Activation(tf.nn.gelu),
            layers.ReLU(6.0),
            layers.ReLU(negative_slope=0.1),
            layers.ELU(),
            layers.PReLU(),
            layers.Softmax(),
            layers.Dense(4, activation=my_activation),
            layers.Activation("exponential"),
        ])
    """)
    kinds = [(lay.kind.value, lay.info.activation) for lay in found["model"].layers]
    assert kinds == [
        ("weighted", None), ("activation", "relu"),
        ("weighted", None), ("activation", "silu"),
        ("weighted", None), ("activation", "tanh"),
        ("weighted", None),
        ("weighted", None),
        ("weighted", None), ("activation", "leaky_relu"),
        ("softmax", None),
        ("activation", "gelu"),
        ("activation", "relu6"),
        ("activation", "leaky_relu"),
        ("activation", "elu"),
        ("activation", "prelu"),
        ("softmax", None),
        ("weighted", None), ("opaque", None),  # never guess an unknown activation
        ("opaque", None),
    ]


def test_layer_attributes(graphs):
    found = graphs("""
        import keras
        from keras import layers
        rate = 0.25
        model = keras.Sequential([
            layers.Conv2D(8, 3, 1, "same", None, 1, 1, None, False),
            layers.Conv2D(8, 3, use_bias=flag),
            layers.DepthwiseConv2D(3, use_bias=False),
            layers.EinsumDense("ab,bc->ac", 4),
            layers.BatchNormalization(momentum=0.1),
            layers.BatchNormalization(1, 0.9),
            layers.Dropout(rate),
            layers.SpatialDropout2D(rate=1.0),
            layers.GaussianDropout(p),
            layers.AlphaDropout(0.1),
        ])
    """)
    layers_ = found["model"].layers
    assert [lay.attrs.get("use_bias") for lay in layers_[:4]] == [
        False, Unresolved("flag"), False, False]
    assert layers_[4].attrs["momentum"] == 0.1
    assert layers_[5].attrs["momentum"] == 0.9  # (axis, momentum) by position
    assert [lay.attrs["p"] for lay in layers_[6:]] == [0.25, 1.0, Unresolved("p"), 0.1]
    assert all(lay.kind is Kind.DROPOUT for lay in layers_[6:])


def test_unresolvable_calls_on_tensors_become_opaque_layers(graphs):
    found = graphs("""
        import keras
        from keras import layers
        from somewhere import CustomLayer

        inputs = keras.Input((8,))
        x = layers.Dropout(0.2)(inputs)
        x = CustomLayer(3)(x)
        x = some_function(x)
        x = layers.BatchNormalization()(x)
        model = keras.Model(inputs, x)
    """)
    (graph,) = found.values()
    ops = [lay.kind for lay in graph.layers]
    assert ops == [Kind.INPUT, Kind.DROPOUT, Kind.OPAQUE, Kind.OPAQUE, Kind.BATCHNORM]
    # the opaque layers still carry the data flow
    drop = graph.layers[1]
    assert graph.first_reachable(drop, Kind.BATCHNORM) is graph.layers[-1]


def test_branches_join_and_conditions_are_recorded(graphs):
    found = graphs("""
        import keras
        from keras import layers
        def head(x, dropout):
            if dropout:
                x = layers.Dropout(dropout)(x)
            else:
                x = layers.GaussianNoise(0.1)(x)
            return layers.Dense(1)(x)
    """)
    graph = found["head"]
    drop, noise, dense = graph.layers
    assert str(drop.condition) == "dropout" and str(noise.condition) == "not (dropout)"
    assert {p.id for p in graph.predecessors(dense)} == {drop.id, noise.id}


def test_project_class_imported_from_another_file(tmp_path):
    (tmp_path / "blocks.py").write_text(textwrap.dedent("""
        from keras import layers
        class ConvBN(layers.Layer):
            def __init__(self, filters):
                super().__init__()
                self.conv = layers.Conv2D(filters, 3)
                self.bn = layers.BatchNormalization()
            def call(self, x):
                return self.bn(self.conv(x))
    """))
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        import keras
        from blocks import ConvBN
        model = keras.Sequential([ConvBN(16), keras.layers.Dropout(0.1)])
    """))
    path = tmp_path / "net.py"
    # project imports resolve to the files of the run
    (graph,) = load_graphs(path, Project([path, tmp_path / "blocks.py"], display=str))
    assert [lay.label for lay in graph.layers] == ["ConvBN(16).conv", "ConvBN(16).bn",
                                                   "Dropout(0.1)"]


def test_recursion_and_deep_nesting_terminate(graphs):
    found = graphs("""
        import keras
        def f(x, n):
            x = keras.layers.Dense(4)(x)
            return f(x, n - 1)
        model = keras.Sequential([keras.layers.Dense(1)])
    """)
    assert "model" in found


def test_check_never_imports_keras_or_tensorflow(tmp_path):
    model = tmp_path / "model.py"
    model.write_text(textwrap.dedent("""
        import tensorflow as tf
        from tensorflow import keras
        model = keras.Sequential([keras.layers.Dense(4), keras.layers.Dropout(0.5)])
    """))
    script = textwrap.dedent(f"""
        import sys
        from layerlint.cli import main
        sys.argv = ["layerlint", "check", {str(model)!r}]
        try:
            main()
        except SystemExit:
            pass
        banned = sorted(m for m in sys.modules if m.split(".")[0] in (
            "keras", "tensorflow", "tf_keras", "torch"))
        print("IMPORTED", banned)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert "IMPORTED []" in out.stdout, out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_keras_frontend_reads_only_files_that_mention_keras(graphs):
    assert graphs("import numpy\nx = numpy.zeros(3)\n") == {}


def test_builder_method_of_a_plain_class(graphs):
    # the reinforcement-learning tutorial shape: an agent that builds its Keras model
    found = graphs("""
        from keras.models import Sequential
        from keras.layers import Dense, Dropout, BatchNormalization

        class DQNAgent:
            def __init__(self, state_size, action_size):
                self.state_size = state_size
                self.action_size = action_size
                self.model = self._build_model()

            def _build_model(self):
                model = Sequential()
                model.add(Dense(24, input_dim=self.state_size, activation="relu"))
                model.add(Dropout(0.2))
                model.add(BatchNormalization())
                model.add(Dense(self.action_size))
                model.compile(loss="mse", optimizer="adam")
                return model
    """)
    assert chain(found["model"]) == ["Dense", "relu", "Dropout", "BatchNormalization", "Dense"]
    assert found["model"].role is Role.MODEL


def test_loop_dispatching_on_its_items_is_not_chained_pass_to_pass(graphs):
    # a config-driven builder: which layer follows which is in the data, not the code
    found = graphs("""
        from keras import layers, Model, Input
        def build(sections):
            x = inputs = Input((32, 32, 3))
            for section in sections:
                if section.startswith("conv"):
                    x = layers.Conv2D(8, 3, use_bias=False)(x)
                    x = layers.BatchNormalization()(x)
                elif section.startswith("dropout"):
                    x = layers.Dropout(0.5)(x)
                elif section.startswith("maxpool"):
                    x = layers.MaxPooling2D()(x)
            return Model(inputs, x)
    """)
    graph = found["build"]
    drop = next(graph.of_kind(Kind.DROPOUT))
    assert graph.first_reachable(drop, Kind.BATCHNORM) is None
    # a loop over blocks is still followed from one pass to the next
    found = graphs("""
        from keras import layers, Model, Input
        def build(depth):
            x = inputs = Input((8,))
            for i in range(depth):
                if i > 0:
                    x = layers.BatchNormalization()(x)
                x = layers.Dense(8)(x)
                x = layers.Dropout(0.5)(x)
            return Model(inputs, x)
    """)
    graph = found["build"]
    assert graph.first_reachable(next(graph.of_kind(Kind.DROPOUT)), Kind.BATCHNORM)


def test_a_list_that_contains_itself_does_not_crash(graphs):
    found = graphs("""
        import keras
        stack = [keras.layers.Dense(4)]
        stack.append(stack)
        model = keras.Sequential(stack)
    """)
    assert {lay.op for lay in found["model"].layers} == {"keras.layers.Dense"}


def test_a_choice_in_a_sequential_list_is_applied_in_parallel(graphs):
    found = graphs("""
        import keras
        def build(use_bn):
            norm = (keras.layers.BatchNormalization() if use_bn
                    else keras.layers.LayerNormalization())
            model = keras.Sequential([keras.layers.Dense(4), norm, keras.layers.ReLU()])
            model.compile(loss="mse")
            return model
    """)
    graph = found["model"]
    dense, bn, ln, relu = graph.layers
    assert {p.id for p in graph.predecessors(relu)} == {bn.id, ln.id}
    assert str(bn.condition) == "use_bn" and str(ln.condition) == "not (use_bn)"
