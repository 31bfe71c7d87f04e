from layerlint.rules.ll002_incomplete_analysis.rule import IncompleteAnalysis as RULE

__all__ = ["RULE"]
