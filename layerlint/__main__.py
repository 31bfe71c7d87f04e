import os
import sys

# `python -m layerlint` puts the working folder first on the import path: a checked
# folder's click.py or tokenize.py would be imported instead of the real module.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from layerlint.cli import main  # noqa: E402

main()
