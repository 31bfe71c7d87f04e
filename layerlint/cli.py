"""The command line. The only module that prints or exits.

Exit codes (as ruff): 0 clean, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from layerlint import __version__
from layerlint.registry import SelectionError, all_rules, get_rule, select_rules

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _codes(values: tuple[str, ...]) -> list[str]:
    """Accept repeated options and comma-separated lists alike."""
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="layerlint")
def cli() -> None:
    """A static linter for neural-network architectures."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (or ALL).")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--extend-select", multiple=True, help="Codes to enable on top of the defaults.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True)
def check(paths: tuple[Path, ...], select: tuple[str, ...], ignore: tuple[str, ...],
          extend_select: tuple[str, ...], output_format: str) -> None:
    """Lint PyTorch/Keras source files, folders and ONNX graphs."""
    from layerlint.engine import check_paths
    from layerlint.reporting import render_json, render_text

    try:
        rules = select_rules(_codes(select), _codes(ignore), _codes(extend_select))
    except SelectionError as error:
        raise click.UsageError(str(error)) from None
    result = check_paths(list(paths) or [Path(".")], rules)
    if output_format == "json":
        click.echo(render_json(result.findings), nl=False)
    else:
        click.echo(render_text(result.findings, result.files_checked), nl=False)
    for error in result.internal_errors:
        click.echo(f"layerlint: internal error: {error}", err=True)
    if result.internal_errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if result.findings else EXIT_CLEAN)


@cli.command(name="rules")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True)
def list_rules(output_format: str) -> None:
    """List every rule with its code, name and default."""
    rules = all_rules()
    if output_format == "json":
        click.echo(json.dumps([
            {"code": r.code, "name": r.name, "default": r.default_enabled,
             "severity": r.severity.value, "summary": r.summary()}
            for r in rules
        ], indent=2))
    elif output_format == "markdown":
        click.echo("| code | name | default | what it finds |\n|---|---|---|---|")
        for r in rules:
            default = "on" if r.default_enabled else "off"
            click.echo(f"| {r.code} | {r.name} | {default} | {r.summary()} |")
    else:
        for r in rules:
            default = "on " if r.default_enabled else "off"
            click.echo(f"{r.code}  {default}  {r.name:34} {r.summary()}")


@cli.command()
@click.argument("code")
def explain(code: str) -> None:
    """Show a rule's documentation and examples."""
    rule = get_rule(code)
    if rule is None:
        valid = ", ".join(r.code for r in all_rules())
        raise click.UsageError(f"unknown rule {code!r}; valid codes: {valid}")
    parts = [f"# {rule.code} {rule.name}", "", rule.doc()]
    if rule.invalid:
        parts += ["", "## Example", "```python", rule.invalid[0].display(), "```"]
    if rule.valid:
        parts += ["", "## Use instead", "```python", rule.valid[0].display(), "```"]
    click.echo("\n".join(parts))


def main() -> None:
    try:
        cli.main(prog_name="layerlint", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
