from layerlint.rules.ll406_ineffective_freeze.rule import IneffectiveFreeze as RULE

__all__ = ["RULE"]
