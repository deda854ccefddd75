"""The neurogym side of :mod:`mifd.tasks.yang19`: the 20 tasks' environments (``neurogym.envs.
collections.yang19``, imported lazily), seeded per call, and the raw trials they make — fresh, or
drawn from a per-task pool (``cache_size``, ``cache_refresh``; see :mod:`mifd.tasks.yang19`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .yang19 import Yang19Spec

TASKS: tuple[str, ...] = (
    "go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti",
    "dm1", "dm2", "ctxdm1", "ctxdm2", "multidm",
    "dlydm1", "dlydm2", "ctxdlydm1", "ctxdlydm2", "multidlydm",
    "dms", "dnms", "dmc", "dnmc",
)
# neurogym builds these as a schedule over two copies, one per stimulus modality (ring).
_TWO_COPIES = frozenset(("go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti",
                         "dms", "dnms", "dmc", "dnmc"))
# tasks whose neurogym constructor takes the input-noise parameter `sigma`
_NOISY = frozenset(TASKS[6:])
# the ring holding the stimulus of the single-modality dm tasks (-1: both rings hold stimuli)
_DM_RING = {"dm1": 0, "dm2": 1, "dlydm1": 0, "dlydm2": 1}

_INSTALL = ("make venv (neurogym is a dependency of this project, pinned in constraints.txt), "
            "or pip install -c constraints.txt neurogym")


class NeurogymMissingError(ImportError):
    """neurogym (needed to make Yang et al. task trials) is not importable."""



_ENVS: dict[tuple, list] = {}
_POOLS: dict[tuple, list] = {}


def _yang19_module():
    try:
        from neurogym.envs.collections import yang19
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise NeurogymMissingError(f"neurogym is not installed (needed by mifd.tasks.yang19); "
                                   f"install it with: {_INSTALL}") from e
    return yang19


def _sources(spec: Yang19Spec, task: str) -> list:
    """neurogym trial sources of ``task``: the two per-modality copies, or the single env."""
    key = (task, spec.dt, spec.dim_ring, float(spec.sigma) if task in _NOISY else None)
    if key not in _ENVS:
        kwargs: dict[str, Any] = {"dt": spec.dt, "dim_ring": spec.dim_ring}
        if task in _NOISY:
            kwargs["sigma"] = float(spec.sigma)
        env = getattr(_yang19_module(), task)(**kwargs)
        _ENVS[key] = list(env.envs) if task in _TWO_COPIES else [env]
    return _ENVS[key]


def _new_trials(spec: Yang19Spec, task: str, n: int, rng: np.random.Generator) -> list[tuple]:
    """``n`` fresh neurogym trials ``(ob, gt, response_start, ring)``, seeded from ``rng``."""
    sources = _sources(spec, task)
    for src, seed in zip(sources, rng.integers(0, 2**32 - 1, size=len(sources))):
        src.unwrapped.seed(int(seed))
    rings = rng.integers(len(sources), size=n) if len(sources) > 1 else np.zeros(n, dtype=np.int64)
    out = []
    for m in rings:
        src = sources[int(m)]
        src.new_trial()
        u = src.unwrapped
        ob, gt = u.ob, u.gt
        start, end = u.start_ind["decision"], u.end_ind["decision"]
        if end != len(gt) or ob.shape[0] != len(gt):
            raise RuntimeError(f"neurogym task {task!r}: the decision period is not the last one")
        ring = int(m) if len(sources) > 1 else _DM_RING.get(task, -1)
        out.append((ob.astype(np.float32, copy=False), gt.astype(np.int64, copy=False),
                    int(start), ring))
    return out


def _pool_trials(spec: Yang19Spec, task: str, n: int, rng: np.random.Generator) -> list[tuple]:
    key = (task, spec.dt, spec.dim_ring, float(spec.sigma), spec.cache_size, spec.cache_seed)
    if key not in _POOLS:
        seed = np.random.default_rng([spec.cache_seed, TASKS.index(task)])
        _POOLS[key] = _new_trials(spec, task, spec.cache_size, seed)
    pool = _POOLS[key]
    picked = [pool[i] for i in rng.integers(spec.cache_size, size=n)]
    if spec.cache_refresh > 0:
        k = min(int(rng.binomial(n, spec.cache_refresh)), spec.cache_size)
        where = rng.choice(spec.cache_size, size=k, replace=False)
        for i, trial in zip(where, _new_trials(spec, task, k, rng)):
            pool[int(i)] = trial
    return picked


def _trials(spec: Yang19Spec, task: str, n: int, rng: np.random.Generator) -> list[tuple]:
    if spec.cache_size:
        return _pool_trials(spec, task, n, rng)
    return _new_trials(spec, task, n, rng)


def longest_pooled(spec: Yang19Spec) -> int | None:
    """The most steps of any trial in the pools of all tasks when they are fixed (``cache_size``
    > 0, ``cache_refresh`` = 0): a padding length that no batch exceeds, whatever it draws;
    ``None`` if the pools are not fixed."""
    if not spec.cache_size or spec.cache_refresh > 0:
        return None
    rng = np.random.default_rng(0)  # draws nothing (n = 0): the pools are made from cache_seed
    for task in TASKS:
        _pool_trials(spec, task, 0, rng)
    return max(len(trial[0]) for key, pool in _POOLS.items()
               if key[1:] == (spec.dt, spec.dim_ring, float(spec.sigma), spec.cache_size,
                              spec.cache_seed) for trial in pool)


def clear_cache() -> None:
    """Forget the cached neurogym environments and trial pools."""
    _ENVS.clear()
    _POOLS.clear()
