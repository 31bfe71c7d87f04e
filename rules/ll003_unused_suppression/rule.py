from layerlint.rule import Rule, Severity


class UnusedSuppression(Rule):
    """## What it does
    Reports a suppression comment (`# layerlint: ignore[LL101]`, `# noqa: LL101`,
    `# layerlint: ignore-file[LL104]`) that suppressed nothing in this run: the
    finding it was written for is gone, the code is unknown, or the rule is not
    enabled. Enabled by `--report-unused-suppressions` (or by selecting LL003).

    ## Why is this bad?
    A stale suppression hides the next real finding on that line.

    ## Known problems
    A bare `# noqa` is never reported: it may serve another linter. A suppression
    for a rule that is disabled in this run is reported as such, although another
    configuration might enable it.

    ## Fix safety
    There is no fix; delete the comment or the stale code in it.

    ## Evidence
    Not applicable: a diagnostic makes no claim about training.

    ## References
    - ruff's RUF100 (unused-noqa) is the model for this diagnostic.
    """

    code = "LL003"
    name = "unused-suppression"
    message = "{message}"
    default_enabled = False
    severity = Severity.WARNING
    unsupported = {
        "pytorch": "diagnostic emitted by the engine from suppression comments, not a graph rule",
        "keras": "diagnostic emitted by the engine from suppression comments, not a graph rule",
        "onnx": "diagnostic emitted by the engine from suppression comments, not a graph rule",
    }
