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
from layerlint.ir.code import Act, Event, Loop, Routine, RoutineKind, Tri
from layerlint.ir.graph import (
    GraphBuilder,
    Hidden,
    Layer,
    LayerGraph,
    Location,
    NodeRef,
    Role,
)
from layerlint.ir.kinds import Kind, OpInfo, lookup

__all__ = [
    "UNEXPANDED_KWARGS", "Act", "BatchNorm", "Dropout", "Event", "GraphBuilder", "Hidden", "Kind",
    "Layer", "LayerAttrs", "LayerGraph", "Location", "Loop", "MomentumConvention", "NodeRef",
    "OpInfo", "Role", "Routine", "RoutineKind", "Tri", "Unresolved", "Weighted", "lookup",
]
