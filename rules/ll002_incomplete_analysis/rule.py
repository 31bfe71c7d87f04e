from layerlint.rule import Rule, Severity


class IncompleteAnalysis(Rule):
    """## What it does
    Reports an input that layerlint read but could not fully analyse, saying which
    rules could not be checked there: for example an ONNX graph exported in eval
    mode, whose Dropout nodes were removed and whose BatchNorms were folded into
    the preceding convolutions.

    ## Why is this bad?
    Silence would look like a clean bill of health. It is not one.

    ## Known problems
    None: this is a diagnostic, not an architecture rule.

    ## Fix safety
    There is no fix; the message says how to give layerlint a complete input.

    ## Evidence
    Not applicable: a diagnostic makes no claim about training.

    ## References
    - `torch.onnx.export(..., training=torch.onnx.TrainingMode.TRAINING)` keeps
      Dropout and BatchNorm nodes.
    """

    code = "LL002"
    name = "incomplete-analysis"
    message = "{note}"
    severity = Severity.ERROR  # a crash or a blind spot must not read as a pass
    unsupported = {
        "pytorch": "diagnostic emitted by the engine from frontend notes, not a graph rule",
        "keras": "diagnostic emitted by the engine from frontend notes, not a graph rule",
        "onnx": "diagnostic emitted by the engine from frontend notes, not a graph rule",
    }
