"""Map the top-level ``rules/`` folder to the ``layerlint.rules`` package.

pyproject metadata cannot express a package whose directory differs from its
name in a way that survives editable installs; ``package_dir`` can. Discovering
the rule folders here means a new rule can never silently miss the wheel.
"""

from pathlib import Path

from setuptools import find_packages, setup

RULES = Path(__file__).resolve().parent / "rules"
# A rule folder may hold only its evidence.py for a while (no __init__.py yet): a
# namespace package that find_packages skips, so add every folder with Python files.
_loose = {path.name for path in RULES.iterdir()
          if path.is_dir() and path.name.startswith("ll") and any(path.glob("*.py"))}
rule_packages = ["layerlint.rules"] + [
    f"layerlint.rules.{name}" for name in sorted(set(find_packages("rules")) | _loose)
]

setup(
    packages=find_packages(include=["layerlint", "layerlint.*"]) + rule_packages,
    package_dir={"layerlint.rules": "rules"},
)
