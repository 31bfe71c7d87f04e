from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import fed_losses, loss_ref, squash_ref


class SoftmaxIntoNllLoss(Rule):
    """## What it does
    Reports a softmax (not a log-softmax) whose output is the input of a loss that
    expects log-probabilities: torch `nn.NLLLoss` / `F.nll_loss`, ONNX
    `NegativeLogLikelihoodLoss`.

    The finding is at the softmax; the loss is the related location. The model and
    the training code may be in different files of the same run.

    ## Why is this bad?
    `NLLLoss` only picks `-input[y]`: it expects `log_softmax` output. Fed
    probabilities, the loss becomes `-p_y`, bounded in [-1, 0]. Its gradient with
    respect to the logits is `-p_y (onehot - p)`, which vanishes exactly where the
    model is most wrong (`p_y` near 0): a confidently wrong example stops training.
    The reported loss is negative, which hides the mistake in logs.

    ## Known problems
    - The link from a model to its loss is found by following training code (see
      LL201); a softmax used only for metrics or inference is not reported.
    - An operation the analysis does not model between the softmax and the loss
      hides the pair; `torch.log(softmax)` is LL209's business.

    ## Fix safety
    An unsafe fix replaces the softmax by a log-softmax (`F.softmax` ->
    `F.log_softmax`, `nn.Softmax` -> `nn.LogSoftmax`). It is unsafe because the
    model then returns log-probabilities where it returned probabilities: code that
    reads its output (metrics, thresholds) must apply `exp` itself. Dropping the
    softmax and using `nn.CrossEntropyLoss` on the logits is the other remedy.

    ## Evidence
    Exact (mechanism, no training): with softmax -> `nll_loss` the loss of any
    input lies in [-1, 0], and on a confidently wrong example (logit 8 on a wrong
    class of 10) the gradient norm is more than 1000 times smaller than with
    `log_softmax`. `layerlint verify LL205` measures both and trains the two
    variants (MLP on scikit-learn digits, identical initial weights).

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds): the loss stayed within [-1, 0] and the gradient on a
    confidently wrong example was about 3000 times smaller; in training, softmax ->
    `nll_loss` gave 0.014 nats higher test NLL (95% CI +0.010..+0.017) and 0.76 pp
    lower accuracy than log-softmax -> `nll_loss` from the same initial weights.

    ## References
    - PyTorch `nn.NLLLoss` documentation: "The input given through a forward call is
      expected to contain log-probabilities of each class ... Obtaining
      log-probabilities in a neural network is easily achieved by adding a
      LogSoftmax layer in the last layer of your network."
    """

    code = "LL205"
    name = "softmax-into-nll-loss"
    message = ("{softmax} output is the input of {loss}, which expects log-probabilities: "
               "the loss becomes -p (bounded in [-1, 0]) and the gradient vanishes on "
               "confidently wrong examples; use log_softmax")

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    return F.softmax(self.fc2(x), dim=1)  # error: LL205

            def train(loader, epochs=5):
                model = Net()
                optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
                for _ in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        loss = F.nll_loss(model(x), y)
                        loss.backward()
                        optimizer.step()
        """),
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 5),
                nn.Softmax(dim=1),  # error: LL205
            )
            criterion = nn.NLLLoss()
            for x, y in loader:
                criterion(model(x), y).backward()
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               probs = Softmax <axis: int = 1> (logits)  # error: LL205
               loss = NegativeLogLikelihoodLoss (probs, labels)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 5), nn.LogSoftmax(dim=1),
            )
            criterion = nn.NLLLoss()
            for x, y in loader:
                criterion(model(x), y).backward()
        """),
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(784, 10)

                def forward(self, x):
                    return self.fc(x)

            def train(loader):
                model = Net()
                for x, y in loader:
                    F.nll_loss(F.log_softmax(model(x), dim=1), y).backward()

            def predict(model, x):
                with torch.no_grad():
                    return F.softmax(model(x), dim=1)
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               logp = LogSoftmax <axis: int = 1> (logits)
               loss = NegativeLogLikelihoodLoss (logp, labels)
            }
        """),
    )
    unsupported = {
        "keras": "Keras has no loss on log-probabilities: its cross-entropies take "
                 "probabilities or logits (LL201, LL204)",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for softmax in graph.of_kind(Kind.SOFTMAX):
            if softmax.info.log:
                continue
            for loss in fed_losses(graph, softmax, "log_probs"):
                yield self.report(softmax, related=(loss,), autofix=_fix(softmax),
                                  softmax=squash_ref(softmax), loss=loss_ref(loss, softmax))


def _fix(softmax: Layer) -> Fix | None:
    return Fix.to_log_form(softmax, safe=False)
