"""The layer graph every frontend lowers to and every rule reads."""

from layerlint.ir.attrs import (
    UNEXPANDED_KWARGS,
    BatchNorm,
    Dropout,
    LayerAttrs,
    MomentumConvention,
    Unresolved,
    Weighted,
)
from layerlint.ir.graph import GraphBuilder, Hidden, Layer, LayerGraph, Location, Role
from layerlint.ir.kinds import Kind, OpInfo, lookup

__all__ = [
    "UNEXPANDED_KWARGS", "BatchNorm", "Dropout", "GraphBuilder", "Hidden", "Kind", "Layer",
    "LayerAttrs", "LayerGraph", "Location", "MomentumConvention", "OpInfo", "Role", "Unresolved",
    "Weighted", "lookup",
]
