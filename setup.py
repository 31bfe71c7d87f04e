"""Map the top-level ``rules/`` folder to the ``layerlint.rules`` package.

pyproject metadata cannot express a package whose directory differs from its
name in a way that survives editable installs; ``package_dir`` can. Discovering
the rule folders here means a new rule can never silently miss the wheel.
"""

from setuptools import find_packages, setup

rule_packages = ["layerlint.rules"] + [
    f"layerlint.rules.{name}" for name in find_packages("rules")
]

setup(
    packages=find_packages(include=["layerlint", "layerlint.*"]) + rule_packages,
    package_dir={"layerlint.rules": "rules"},
)
