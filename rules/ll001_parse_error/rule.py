from layerlint.rule import Rule, Severity


class ParseError(Rule):
    """## What it does
    Reports an input that layerlint could not read: a Python file with a syntax
    error or an undecodable encoding, a malformed or truncated ONNX file, a path
    that does not exist, a malformed suppression comment (which suppresses nothing).

    ## Why is this bad?
    Nothing in that file was checked. The run goes on with the other files.

    ## Known problems
    None: this is a diagnostic, not an architecture rule.

    ## Fix safety
    There is no fix.

    ## Evidence
    Not applicable: a diagnostic makes no claim about training.

    ## References
    - The error message names the parser's complaint and where it is.
    """

    code = "LL001"
    name = "parse-error"
    message = "{error}"
    severity = Severity.ERROR
    unsupported = {
        "pytorch": "diagnostic emitted by the engine, not a graph rule",
        "keras": "diagnostic emitted by the engine, not a graph rule",
        "onnx": "diagnostic emitted by the engine, not a graph rule",
    }
