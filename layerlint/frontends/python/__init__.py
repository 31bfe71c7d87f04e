"""Python source (PyTorch and Keras) -> layer graphs, by one abstract interpreter.

``source`` reads and parses files, ``interpreter`` runs Python abstractly, and the
framework plugins (``torch``, ``keras``) say what framework names mean.
"""

from layerlint.frontends.python.source import PythonModule, load_graphs, parse_python

__all__ = ["PythonModule", "load_graphs", "parse_python"]
