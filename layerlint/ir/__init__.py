"""The layer graph every frontend lowers to and every rule reads."""

from layerlint.ir.graph import GraphBuilder, Layer, LayerGraph, Location, Role, Unresolved
from layerlint.ir.kinds import Kind, OpInfo, lookup

__all__ = [
    "GraphBuilder", "Kind", "Layer", "LayerGraph", "Location", "OpInfo", "Role", "Unresolved",
    "lookup",
]
