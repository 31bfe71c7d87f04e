"""The rules: one package per code (``llNNN_rule_name``), each exporting ``RULE``.

Installed as ``layerlint.rules``; discovered by ``layerlint.registry``.
"""
