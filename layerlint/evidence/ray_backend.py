"""``layerlint verify --backend ray``: trials as Ray tasks, on a local Ray started for
the run or on an existing cluster (``--address``).

Each (seed, arm) trial is one task with its own resources (CPUs = the thread count,
optionally a GPU share). The driver keeps the harness's bookkeeping: it records each
result in the atomic JSON report as it arrives, so a killed sweep resumes from what was
recorded and recomputes none of it. A task builds the same ``Context`` (mode, device
type, data, thread count) and seeds exactly as a local run, so per-seed values on CPU
are bit-identical to the default backend's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["INSTALL_HINT", "MissingRay", "RayOptions", "RaySession"]

INSTALL_HINT = "pip install 'layerlint[ray]'"

Trial = tuple[int, str, dict]


class MissingRay(ImportError):
    pass


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray for this run
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: 1 on CUDA, 0 on CPU
    local_cpus: int | None = None  # CPUs of the local Ray (None: Ray's default)


_contexts: dict[tuple, object] = {}


def _context(mode: str, device: str, data_dir: str | None, threads: int):
    """One Context per worker process and configuration (keeps its dataset cache)."""
    key = (mode, device, data_dir, threads)
    if key not in _contexts:
        import torch

        from layerlint.evidence.context import Context, configure_determinism

        # Ray narrows CUDA_VISIBLE_DEVICES to the task's GPU, so "cuda" is that GPU
        dev = torch.device(device)
        configure_determinism(dev, threads)
        _contexts[key] = Context(mode=mode, device=dev,
                                 data_dir=Path(data_dir) if data_dir else None)
    return _contexts[key]


def _call(target: str, context: tuple, args: tuple):
    """Run ``module:function(ctx, *args)`` in a worker (a rule trial or a study trial)."""
    import importlib

    module_name, function = target.split(":")
    return getattr(importlib.import_module(module_name), function)(_context(*context), *args)


def rule_trial(ctx, module_name: str, seed: int, arm: str) -> Trial:
    import importlib

    from layerlint.evidence.parallel import _timed

    return seed, arm, _timed(importlib.import_module(module_name), ctx, seed, arm)


class RaySession:
    """Connect to (or start) Ray once per ``verify``; ``runner`` plugs into run_module."""

    def __init__(self, options: RayOptions, device_type: str, threads: int,
                 echo: Callable[[str], None] = lambda _text: None) -> None:
        try:
            import ray
        except ImportError:
            raise MissingRay(f"--backend ray needs ray: {INSTALL_HINT}") from None
        self.ray = ray
        self.options = options
        self.threads = threads
        gpus = options.gpus_per_trial
        self.gpus = (1.0 if device_type == "cuda" else 0.0) if gpus is None else gpus
        if device_type == "cuda" and self.gpus <= 0:
            raise ValueError("--device cuda with --backend ray needs --gpus-per-trial > 0")
        self.started = not ray.is_initialized()
        if self.started:
            kwargs: dict = {"include_dashboard": False, "log_to_driver": False,
                            "configure_logging": False}
            if options.address:
                kwargs["address"] = options.address
            elif options.local_cpus:
                kwargs["num_cpus"] = options.local_cpus
            ray.init(**kwargs)
        resources = ray.cluster_resources()
        echo(f"ray: {'cluster at ' + options.address if options.address else 'local'}, "
             f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; "
             f"per trial {options.cpus_per_trial:g} CPU, {self.gpus:g} GPU")
        self._remote = ray.remote(_call).options(num_cpus=options.cpus_per_trial,
                                                 num_gpus=self.gpus, max_retries=2)

    def map(self, target: str, ctx, items: Iterable[tuple]) -> Iterator[tuple[tuple, object]]:
        """``(args, target(ctx, *args))`` for every args tuple, in completion order; what
        is still running when the consumer stops is cancelled."""
        context = (ctx.mode, ctx.device.type, str(ctx.data_dir) if ctx.data_dir else None,
                   self.threads)
        refs = {self._remote.remote(target, context, args): args for args in items}
        waiting = list(refs)
        try:
            while waiting:
                done, waiting = self.ray.wait(waiting, num_returns=1)
                yield refs[done[0]], self.ray.get(done[0])
        finally:
            for ref in waiting:
                self.ray.cancel(ref, force=True)

    def runner(self, module: ModuleType, ctx) -> Callable[[Iterable[tuple[int, str]]],
                                                          Iterator[Trial]]:
        def run(pending: Iterable[tuple[int, str]]) -> Iterator[Trial]:
            items = [(module.__name__, seed, arm) for seed, arm in pending]
            for _args, trial in self.map(f"{__name__}:rule_trial", ctx, items):
                yield trial

        return run

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
