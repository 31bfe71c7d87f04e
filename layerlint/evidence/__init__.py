"""Evidence harness behind ``layerlint verify``.

Torch-free at import: ``api``, ``stats``, ``report`` and ``runner`` can be imported
without torch; ``context``, ``training``, ``harness`` and the rule modules need it.
"""
