"""Lorenz + Rössler mixtures for the chaotic-separation task (reference-facts §2).

Each sample pairs a Lorenz trajectory (σ = 10, ρ = 28, β = 8/3, t ∈ [0, 100]) and a Rössler one
(a = b = 0.2, c = 5.7, t ∈ [0, 700]), both integrated with ``scipy.integrate.solve_ivp`` (RK45,
its default tolerances, as the authors) at ``n_eval`` = 14000 evenly spaced times from initial
values uniform on [0, 1]³. Every variable of every trajectory is min-max scaled to [0, 1] over
all 14000 samples, then the first ``drop`` = 4000 samples are discarded (10000 remain).
Input = Lorenz + Rössler (3-D); target = the 6-D concatenation (Lorenz x, y, z, Rössler x, y, z).

:class:`ChaosDataset` generates a training pool and a held-out test set deterministically from a
seed, in parallel over CPU cores, and caches them on disk (atomic, checksummed: a corrupt or
partial cache is rebuilt).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

LORENZ = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
ROSSLER = {"a": 0.2, "b": 0.2, "c": 5.7}


def lorenz(t: float, s: np.ndarray, sigma: float = 10.0, rho: float = 28.0,
           beta: float = 8.0 / 3.0) -> list[float]:
    x, y, z = s
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


def rossler(t: float, s: np.ndarray, a: float = 0.2, b: float = 0.2, c: float = 5.7) -> list[float]:
    x, y, z = s
    return [-y - z, x + a * y, b + z * (x - c)]


@dataclass(frozen=True)
class ChaosSpec:
    t_lorenz: float = 100.0
    t_rossler: float = 700.0
    n_eval: int = 14000
    drop: int = 4000
    length: int = 10000     # steps kept after the drop (≤ n_eval − drop)
    rtol: float = 1e-3      # solve_ivp defaults
    atol: float = 1e-6


def integrate(system: str, init: np.ndarray, spec: ChaosSpec = ChaosSpec(),
              rtol: float | None = None, atol: float | None = None) -> np.ndarray:
    """Raw trajectory ``(n_eval, 3)`` of ``system`` ('lorenz' | 'rossler') from ``init``."""
    f, t_end = (lorenz, spec.t_lorenz) if system == "lorenz" else (rossler, spec.t_rossler)
    t_eval = np.linspace(0.0, t_end, spec.n_eval)
    sol = solve_ivp(f, (0.0, t_end), init, method="RK45", t_eval=t_eval,
                    rtol=spec.rtol if rtol is None else rtol,
                    atol=spec.atol if atol is None else atol)
    if not sol.success:
        raise RuntimeError(f"{system} integration failed: {sol.message}")
    return sol.y.T


def minmax_then_drop(traj: np.ndarray, spec: ChaosSpec = ChaosSpec()) -> np.ndarray:
    """Scale each variable to [0, 1] over the whole trajectory, drop the first ``drop`` samples
    and keep ``length``."""
    lo, hi = traj.min(0), traj.max(0)
    scaled = (traj - lo) / np.where(hi > lo, hi - lo, 1.0)
    return scaled[spec.drop: spec.drop + spec.length]


def make_pair(seed: int, spec: ChaosSpec = ChaosSpec()) -> np.ndarray:
    """One sample ``(length, 6)``: scaled Lorenz then scaled Rössler, initial values from ``seed``."""
    rng = np.random.default_rng(seed)
    l0, r0 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    lor = minmax_then_drop(integrate("lorenz", l0, spec), spec)
    ros = minmax_then_drop(integrate("rossler", r0, spec), spec)
    return np.concatenate([lor, ros], axis=1).astype(np.float32)


def _pair_job(args: tuple[int, ChaosSpec]) -> np.ndarray:
    return make_pair(*args)


def generate(seeds: list[int], spec: ChaosSpec = ChaosSpec(), workers: int | None = None
             ) -> np.ndarray:
    """Samples for ``seeds`` ``(n, length, 6)``, in parallel over ``workers`` processes."""
    workers = workers or os.cpu_count() or 1
    jobs = [(int(s), spec) for s in seeds]
    if workers <= 1 or len(jobs) < 4:
        return np.stack([_pair_job(j) for j in jobs])
    with ProcessPoolExecutor(max_workers=workers) as ex:
        return np.stack(list(ex.map(_pair_job, jobs, chunksize=max(1, len(jobs) // (4 * workers)))))


@dataclass(frozen=True)
class ChaosDataset:
    """A training pool and a held-out test set, generated from ``seed`` and cached on disk."""

    n_train: int = 10000
    n_test: int = 50
    seed: int = 0
    spec: ChaosSpec = ChaosSpec()

    def key(self) -> str:
        """The cache key: sizes, seed, spec and the hash of the code that generates the data
        (:func:`mifd.fingerprint.code_hash` of this module), so a change to it rebuilds."""
        from ..fingerprint import code_hash
        blob = json.dumps({"n_train": self.n_train, "n_test": self.n_test, "seed": self.seed,
                           "spec": asdict(self.spec), "code": code_hash(__name__)},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def seeds(self) -> tuple[list[int], list[int]]:
        base = 1_000_003 * (self.seed + 1)
        train = [base + i for i in range(self.n_train)]
        test = [base + 500_000_000 + i for i in range(self.n_test)]
        return train, test

    def load(self, cache_dir: Path | str | None = None, workers: int | None = None
             ) -> dict[str, np.ndarray]:
        """``{"train": (n_train, L, 6), "test": (n_test, L, 6)}``; built on first use and kept in
        ``cache_dir`` (default: ``_datasets`` inside the writable results store)."""
        from ..store import CorruptFileError, default_roots, dump_blob, load_blob
        if cache_dir is None:
            cache_dir = default_roots()[0] / "_datasets"
        path = Path(cache_dir) / f"chaos-{self.key()}.bin"
        if path.exists():
            try:
                return load_blob(path)
            except CorruptFileError as e:
                warnings.warn(f"{e}; rebuilding the dataset", stacklevel=2)
        train_seeds, test_seeds = self.seeds()
        data = {"train": generate(train_seeds, self.spec, workers),
                "test": generate(test_seeds, self.spec, workers)}
        dump_blob(path, data)
        return data


def mix(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Input (Lorenz + Rössler, 3-D) and target (6-D) of samples ``(..., L, 6)``."""
    return sample[..., :3] + sample[..., 3:], sample
