"""The command line. The only module that prints or exits.

Exit codes (as ruff): 0 clean, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from layerlint import __version__

# The registry (every rule, the layer graph) is imported by the commands that need it:
# `--version` and `--help` stay as cheap as starting Python and click.

if TYPE_CHECKING:
    from layerlint.ir import Location
    from layerlint.linter import LintOptions, LintResult

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
@click.option("--format", "output_format",
              type=click.Choice(["text", "json", "sarif", "github"]),
              default="text", show_default=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Use this pyproject.toml (or TOML file) instead of the nearest one.")
@click.option("--isolated", is_flag=True, help="Ignore all configuration files.")
@click.option("--extend-exclude", multiple=True, help="Glob patterns to exclude as well.")
@click.option("--force-exclude", is_flag=True,
              help="Apply exclusions to paths given explicitly too (as pre-commit does).")
@click.option("--report-unused-suppressions", is_flag=True,
              help="Report suppression comments that suppress nothing (LL003).")
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False),
              help="Write accepted findings here if absent; else report only new ones.")
@click.option("--fix", is_flag=True, help="Apply fixes (safe ones; unsafe ones too with "
                                            "--unsafe-fixes).")
@click.option("--unsafe-fixes", is_flag=True,
              help="Enable unsafe fixes: --fix applies them, --diff shows them.")
@click.option("--diff", is_flag=True,
              help="Print the fixes --fix would apply as a unified diff; write nothing.")
@click.option("--no-cache", is_flag=True, help="Check every file anew; read and write no cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Cache folder (default: `cache-dir` in the configuration, else "
                   ".layerlint_cache).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU core).")
@click.option("--exit-zero", is_flag=True,
              help="Exit 0 even when there are findings (errors still exit 2).")
@click.option("--output-file", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file instead of standard output.")
@click.option("--statistics", is_flag=True, help="Count the findings per rule instead.")
@click.option("--quiet", "-q", is_flag=True, help="Print the findings and nothing else.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True,
              help="Colour the text output (auto: on a terminal, unless NO_COLOR; "
                   "FORCE_COLOR forces it).")
@click.option("--show-files", is_flag=True, help="List the files that would be checked.")
@click.option("--show-settings", is_flag=True,
              help="Show the settings that apply to the first path, and where they come from.")
def check(paths: tuple[Path, ...], select: tuple[str, ...], ignore: tuple[str, ...],
          extend_select: tuple[str, ...], output_format: str, config_path: Path | None,
          isolated: bool, extend_exclude: tuple[str, ...], force_exclude: bool,
          report_unused_suppressions: bool, baseline: Path | None, fix: bool,
          unsafe_fixes: bool, diff: bool, no_cache: bool, cache_dir: Path | None,
          jobs: int | None, exit_zero: bool, output_file: Path | None, statistics: bool,
          quiet: bool, color: str, show_files: bool, show_settings: bool) -> None:
    """Lint PyTorch/Keras source files, notebooks, folders and ONNX graphs."""
    from layerlint.baseline import BaselineError
    from layerlint.config import ConfigError, Overrides
    from layerlint.linter import LintOptions, lint
    from layerlint.registry import SelectionError, all_rules
    from layerlint.reporting import (
        render_github,
        render_json,
        render_sarif,
        render_statistics,
        render_text,
    )

    options = LintOptions(
        overrides=Overrides(tuple(_codes(select)), tuple(_codes(ignore)),
                            tuple(_codes(extend_select)), extend_exclude),
        config=config_path, isolated=isolated, force_exclude=force_exclude,
        report_unused_suppressions=report_unused_suppressions, baseline=baseline,
        fix=fix, unsafe_fixes=unsafe_fixes, diff=diff,
        count_fixable=output_format != "github",  # the others show fixes
        cache=not no_cache, cache_dir=cache_dir, jobs=jobs or _cores(),
    )
    try:
        if show_files or show_settings:
            _show(list(paths), options, show_files)
            return
        result = lint(list(paths), options)
    except (ConfigError, SelectionError) as error:
        raise click.UsageError(str(error)) from None
    except BaselineError as error:
        raise click.UsageError(str(error)) from None
    terminal = output_file is None and sys.stdout.isatty()
    if diff:
        report = result.diff
    elif statistics:
        report = render_statistics(result.findings, result.fixable, unsafe_fixes,
                                   as_json=output_format == "json")
    elif output_format == "json":
        report = render_json(result.findings)
    elif output_format == "sarif":
        from layerlint.baseline import fingerprints

        report = render_sarif(result.findings, all_rules(),
                              fingerprints(result.findings, result.source, Path.cwd()))
    elif output_format == "github":
        report = render_github(result.findings)
    else:
        report = render_text(
            result.findings, result.files_checked,
            source_line=_source_line(result) if terminal else None,
            color=_colour(color, terminal),
            fixable=result.fixable, internal_errors=len(result.internal_errors),
            unsafe_fixes=unsafe_fixes, summary_line=not quiet,
        )
    if output_file is not None:
        try:
            output_file.write_text(report, encoding="utf-8")
        except OSError as error:
            raise click.UsageError(f"cannot write {output_file}: {error.strerror}") from None
    else:
        click.echo(report, nl=False, color=True)
    _notes(result, quiet=quiet, fix=fix, diff=diff, unsafe_fixes=unsafe_fixes,
           baseline=baseline)
    if result.internal_errors:
        sys.exit(EXIT_ERROR)
    if exit_zero:
        sys.exit(EXIT_CLEAN)
    if diff:
        sys.exit(EXIT_FINDINGS if result.fixed else EXIT_CLEAN)
    sys.exit(EXIT_FINDINGS if result.findings else EXIT_CLEAN)


def _colour(choice: str, terminal: bool) -> bool:
    """--color, then NO_COLOR and FORCE_COLOR (https://no-color.org, force-color.org)."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or terminal


def _show(paths: list[Path], options: LintOptions, files: bool) -> None:
    from layerlint.linter import show_files, show_settings

    if files:
        for path in show_files(paths, options):
            click.echo(path)
        return
    target = paths[0] if paths else Path(".")
    settings = show_settings(target, options)
    ignores = {pattern: sorted(codes) for pattern, codes in settings.per_file_ignores}
    click.echo(json.dumps({
        "path": str(target),
        "configuration": str(settings.source) if settings.source else None,
        "root": str(settings.root),
        "enabled": sorted(settings.codes_for(target)),
        "per-file-ignores": ignores,
        "exclude": list(settings.exclude),
        "extend-exclude": list(settings.extend_exclude),
        "cache-dir": str(settings.cache_dir) if settings.cache_dir else None,
    }, indent=2))


def _notes(result: LintResult, *, quiet: bool, fix: bool, diff: bool, unsafe_fixes: bool,
           baseline: Path | None) -> None:
    """Warnings and fix notes on stderr; with --quiet only errors."""
    from layerlint.reporting import printable

    if not quiet:
        _fix_notes(result, fix=fix, diff=diff, unsafe_fixes=unsafe_fixes, baseline=baseline)
    for error in result.internal_errors:
        click.echo(f"layerlint: internal error: {printable(error)}", err=True)


def _fix_notes(result: LintResult, *, fix: bool, diff: bool, unsafe_fixes: bool,
               baseline: Path | None) -> None:
    from layerlint.reporting import fix_counts, hidden_hint, printable

    if not result.files_checked and not result.findings:
        # as ruff: a clear warning, but not a failure (an empty folder is not an error)
        click.echo("layerlint: warning: no Python, notebook or ONNX files found under "
                   "the given paths", err=True)
    for note in result.fix_notes:
        click.echo(f"layerlint: {printable(note)}", err=True)
    hidden = fix_counts(result.fixable, unsafe_fixes)[1]
    more = f" ({hidden_hint(hidden)})" if hidden else ""
    if result.fixed:
        verb = "Would fix" if diff else "Fixed"
        click.echo(f"{verb} {result.fixed} problem{'s' if result.fixed != 1 else ''}{more}.",
                   err=True)
    elif diff or (fix and hidden):
        click.echo(f"No fixes available{more}.", err=True)
    if result.baseline_written is not None:
        click.echo(f"layerlint: wrote {result.baseline_written} finding(s) to baseline "
                   f"{baseline}", err=True)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _source_line(result: LintResult) -> Callable[[Location], str | None]:
    """The source line of a location, read once per file, for the terminal snippet."""
    def line(location: Location) -> str | None:
        source = result.source(location.path)
        return source.line(location.line, location.cell) if source is not None else None

    return line


@cli.command(name="rules")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True)
def list_rules(output_format: str) -> None:
    """List every rule with its code, name and default."""
    from layerlint.registry import all_rules

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
    from layerlint.registry import all_rules, get_rule

    rule = get_rule(code)
    if rule is None:
        valid = ", ".join(r.code for r in all_rules())
        raise click.UsageError(f"unknown rule {code!r}; valid codes: {valid}")
    parts = [f"# {rule.code} {rule.name}", "", rule.doc()]
    if rule.invalid:
        parts += ["", "## Example", "```python", rule.invalid[0].display(), "```"]
    if rule.valid:
        parts += ["", "## Use instead", "```python", rule.valid[0].display(), "```"]
    from layerlint.evidence.report import describe_reference

    reference = describe_reference(rule.code)
    if reference:
        parts += ["", "## Reference evidence result", reference]
    click.echo("\n".join(parts))


@cli.command()
@click.argument("codes", nargs=-1)
@click.option("--mode", type=click.Choice(["quick", "full", "smoke"]), default="quick",
              show_default=True, help="quick: CPU-sized; full: GPU-sized, with controls.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--seeds", type=click.IntRange(2, 1000), default=None,
              help="Seeds per arm (default: the module's, per mode).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("layerlint-evidence"),
              show_default=True, help="Report folder (JSON, Markdown, PNG); reruns resume.")
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Local MNIST or CIFAR-10 in torchvision's layout.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Trials in parallel processes.")
@click.option("--study", type=click.Choice(["seed-orderings"]), default=None,
              help="Run a study instead of the rule modules.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="ray: every (seed, arm) trial is a Ray task "
              "(needs the ray extra).")
@click.option("--address", default=None, metavar="ADDR",
              help="Ray cluster to join (e.g. ray://head:10001 or auto); default: start a "
              "local Ray for this run.")
@click.option("--gpus-per-trial", type=click.FloatRange(0, 64), default=None,
              help="GPU share each Ray task reserves [default: 1 with --device cuda, else 0].")
@click.option("--cpus-per-trial", type=click.FloatRange(0.01, 256), default=None,
              help="CPUs each Ray task reserves [default: 1].")
def verify(codes: tuple[str, ...], mode: str, device: str, seeds: int | None, out: Path,
           data: Path | None, jobs: int, study: str | None, backend: str,
           address: str | None, gpus_per_trial: float | None,
           cpus_per_trial: float | None) -> None:
    """Re-run the evidence behind rules (needs torch: the verify extra)."""
    from layerlint.evidence import runner

    if backend != "ray" and (address or gpus_per_trial is not None or cpus_per_trial):
        raise click.UsageError("--address, --gpus-per-trial and --cpus-per-trial need "
                               "--backend ray")
    options = runner.VerifyOptions(codes=codes, mode=mode, device=device, seeds=seeds,
                                   out=out, data=data, jobs=jobs, study=study,
                                   backend=backend, address=address,
                                   gpus_per_trial=gpus_per_trial,
                                   cpus_per_trial=cpus_per_trial)
    try:
        results = runner.verify(options, echo=lambda text: click.echo(text, err=True))
    except runner.MissingTorch as error:
        click.echo(f"layerlint: {error}", err=True)
        sys.exit(EXIT_ERROR)
    except ImportError as error:  # the ray extra is missing (ray_backend.MissingRay)
        click.echo(f"layerlint: {error}", err=True)
        sys.exit(EXIT_ERROR)
    except (ValueError, RuntimeError) as error:
        raise click.UsageError(str(error)) from None
    click.echo(runner.render_table(results))
    click.echo(f"Reports written to {out}/")


@cli.command()
def server() -> None:
    """Run the language server: LSP over standard input and output, for editors (needs
    the server extra)."""
    try:
        from layerlint.server import serve
    except ImportError as error:
        if (error.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        click.echo("layerlint: `layerlint server` needs pygls: "
                   "pip install 'layerlint[server]'", err=True)
        sys.exit(EXIT_ERROR)
    serve()


def main() -> None:
    try:
        cli.main(prog_name="layerlint", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - never exit 1 (findings) on a crash
        where = ""
        if error.__traceback__ is not None:
            import traceback

            frame = traceback.extract_tb(error.__traceback__)[-1]
            where = f" at {Path(frame.filename).name}:{frame.lineno}"
        click.echo(f"layerlint: internal error: {type(error).__name__}: {error}{where}; "
                   "this is a bug in layerlint: please report it", err=True)
        sys.exit(EXIT_ERROR)
