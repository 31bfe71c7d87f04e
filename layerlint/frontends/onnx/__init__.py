"""The ONNX frontend's parts (this package never shadows the ``onnx`` package: imports
are absolute, and it is only ever imported as ``layerlint.frontends.onnx``)."""
