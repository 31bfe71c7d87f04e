"""layerlint: a static linter for neural-network architectures."""

__version__ = "0.1.0"
__all__ = ["__version__"]


def _map_checkout_rules() -> None:
    """Run from a source checkout (the package imported from the repository, not from
    an install), ``rules/`` beside the package is ``layerlint.rules``, as an install maps
    it: processes started in the checkout (Ray workers, ``python -c``) find the rules."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    rules = os.path.join(os.path.dirname(here), "rules")
    if os.path.isdir(os.path.join(here, "rules")) or \
            not os.path.isfile(os.path.join(rules, "__init__.py")):
        return
    import importlib.util
    import sys

    class _CheckoutRules:  # a meta path finder; importlib.abc would cost 10 ms a run
        def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
            if name != "layerlint.rules":
                return None
            return importlib.util.spec_from_file_location(
                name, os.path.join(rules, "__init__.py"), submodule_search_locations=[rules])

    sys.meta_path.insert(0, _CheckoutRules())


_map_checkout_rules()
