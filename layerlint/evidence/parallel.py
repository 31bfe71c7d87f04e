"""Serial or process-parallel execution of trials (``--jobs N``).

Workers are spawned (never forked: torch state does not survive a fork), each builds its
own context; with several GPUs, worker k uses GPU k modulo the count.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from types import ModuleType

__all__ = ["make_runner"]

Trial = tuple[int, str, dict]

_worker_ctx = None


def _timed(module: ModuleType, ctx, seed: int, arm: str) -> dict:
    started = time.perf_counter()
    metrics = dict(module.run_arm(ctx, seed, arm))
    metrics["_wall_s"] = round(time.perf_counter() - started, 3)
    return metrics


def _init_worker(mode: str, device: str, data_dir: str | None, threads: int,
                 counter) -> None:
    import torch

    from layerlint.evidence.context import Context, configure_determinism

    global _worker_ctx
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if device == "cuda" and torch.cuda.device_count() > 1:
        device = f"cuda:{index % torch.cuda.device_count()}"
    dev = torch.device(device)
    configure_determinism(dev, threads)
    _worker_ctx = Context(mode=mode, device=dev, data_dir=Path(data_dir) if data_dir else None)


def _work(module_name: str, seed: int, arm: str) -> Trial:
    module = importlib.import_module(module_name)
    return seed, arm, _timed(module, _worker_ctx, seed, arm)


def make_runner(module: ModuleType, ctx, jobs: int = 1
                ) -> Callable[[Iterable[tuple[int, str]]], Iterator[Trial]]:
    def serial(pending: Iterable[tuple[int, str]]) -> Iterator[Trial]:
        for seed, arm in pending:
            yield seed, arm, _timed(module, ctx, seed, arm)

    if jobs <= 1:
        return serial

    def parallel(pending: Iterable[tuple[int, str]]) -> Iterator[Trial]:
        import multiprocessing

        import torch

        spawn = multiprocessing.get_context("spawn")
        counter = spawn.Value("i", 0)
        args = (ctx.mode, ctx.device.type, str(ctx.data_dir) if ctx.data_dir else None,
                torch.get_num_threads(), counter)
        with ProcessPoolExecutor(jobs, mp_context=spawn, initializer=_init_worker,
                                 initargs=args) as pool:
            futures = [pool.submit(_work, module.__name__, s, a) for s, a in pending]
            for future in as_completed(futures):
                yield future.result()

    return parallel
