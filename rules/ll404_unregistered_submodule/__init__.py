from layerlint.rules.ll404_unregistered_submodule.rule import UnregisteredSubmodule as RULE

__all__ = ["RULE"]
