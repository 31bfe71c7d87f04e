from layerlint.rules.ll001_parse_error.rule import ParseError as RULE

__all__ = ["RULE"]
