"""Discover the rules under ``layerlint.rules`` and select them by code."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Iterable

from layerlint.ir import Location
from layerlint.rule import Finding, Rule

__all__ = ["ALWAYS", "SelectionError", "all_rules", "diagnostic", "enabled_codes", "expand",
           "expand_ignore", "get_rule", "select_rules"]

# Codes of retired rules: never reused, never reported.
RETIRED: dict[str, str] = {}

# Errors (unreadable input, incomplete analysis) are never hidden by a selection that
# merely leaves them out: only ignoring the exact code turns one off.
ALWAYS = frozenset({"LL001", "LL002"})

_CODE = re.compile(r"^LL\d{3}$")


class SelectionError(ValueError):
    """A --select/--ignore value matches no rule."""


@functools.cache
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, ordered by code. Each rule folder exports ``RULE``."""
    import layerlint.rules as package

    found: list[type[Rule]] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg or not re.match(r"^ll\d{3}_", info.name):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        rule = module.RULE
        if not _CODE.match(rule.code) or rule.code in RETIRED:
            raise RuntimeError(f"rule folder {info.name} has invalid code {rule.code!r}")
        if not info.name.startswith(rule.code.lower() + "_"):
            raise RuntimeError(f"rule folder {info.name} does not match code {rule.code}")
        found.append(rule)
    found.sort(key=lambda rule: rule.code)
    codes = [rule.code for rule in found]
    if len(codes) != len(set(codes)):
        raise RuntimeError(f"duplicate rule codes: {codes}")
    return tuple(found)


def get_rule(code: str) -> type[Rule] | None:
    key = code.upper()
    return next((r for r in all_rules() if r.code == key or r.name == code.lower()), None)


def diagnostic(code: str, location: Location, message: str) -> Finding:
    """A finding of a rule the engine emits itself (LL001-LL003): its registered name
    and severity, so reports (SARIF's rule list) agree with the results."""
    rule = get_rule(code)
    if rule is None:
        raise KeyError(code)
    return Finding(code=rule.code, name=rule.name, severity=rule.severity, message=message,
                   location=location)


def _matching(prefix: str) -> set[str]:
    key = prefix.strip().upper()
    codes = {rule.code for rule in all_rules()}
    if key == "ALL":
        return codes
    matched = {code for code in codes if code.startswith(key)}
    if not key.startswith("LL") or not matched:
        valid = ", ".join(sorted(codes))
        raise SelectionError(f"unknown rule code or prefix {prefix!r}; valid codes: {valid}")
    return matched


def expand(prefix: str) -> set[str]:
    """The codes a selector (code, prefix or ``ALL``) names; SelectionError if none."""
    return _matching(prefix)


def expand_ignore(prefix: str) -> set[str]:
    """The codes an ignore entry turns off: a prefix or ``ALL`` spares ``ALWAYS``."""
    codes = _matching(prefix)
    key = prefix.strip().upper()
    return codes if key in ALWAYS else codes - ALWAYS


# One layer of selectors: (select, extend-select, ignore), as a configuration file or
# the command line gives them.
Layer = tuple["Iterable[str] | None", "Iterable[str]", "Iterable[str]"]


def enabled_codes(layers: Iterable[Layer]) -> frozenset[str]:
    """The codes enabled by ruff-style selector layers (prefixes of codes, or ``ALL``),
    applied in order from the defaults: a ``select`` starts over (keeping ``ALWAYS``),
    ``extend-select`` adds, ``ignore`` removes (a prefix spares ``ALWAYS``).
    The one place rule selection is decided; SelectionError for an unknown selector."""
    chosen = {rule.code for rule in all_rules() if rule.default_enabled}
    for select, extend_select, ignore in layers:
        if select:
            chosen = set().union(ALWAYS, *(expand(code) for code in select))
        for code in extend_select:
            chosen |= expand(code)
        for code in ignore:
            chosen -= expand_ignore(code)
    return frozenset(chosen)


def select_rules(
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    extend_select: list[str] | None = None,
) -> list[type[Rule]]:
    """Rules enabled by one layer of selectors (see ``enabled_codes``)."""
    codes = enabled_codes([(select, extend_select or (), ignore or ())])
    return [rule for rule in all_rules() if rule.code in codes]
