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


#: OpenBLAS kernels the integration runs with, whatever the CPU: ``solve_ivp``'s step-size
#: control takes norms through numpy's BLAS, whose last bits depend on the kernel OpenBLAS picks
#: for the CPU, and a chaotic trajectory carries that to entirely different data (found 2026-12:
#: the same seeds gave other data on an Intel Xeon with AVX-512, whose kernels are "SkylakeX",
#: than on the AMD EPYC machines the committed results were made on; "Haswell" — also what
#: OpenBLAS runs on those — reproduces them). Needs AVX2; elsewhere OpenBLAS picks its own.
OPENBLAS_CORETYPE = "Haswell"


def _pinned_env() -> dict[str, str]:
    from ..results.numerics import record
    return {"OPENBLAS_CORETYPE": OPENBLAS_CORETYPE} if "avx2" in record()["cpu_flags"] else {}


def generate(seeds: list[int], spec: ChaosSpec = ChaosSpec(), workers: int | None = None
             ) -> np.ndarray:
    """Samples for ``seeds`` ``(n, length, 6)``, over ``workers`` fresh Python processes
    (:data:`WORKER`) whose OpenBLAS runs the kernels of
    :data:`OPENBLAS_CORETYPE`, so the data do not depend on the CPU."""
    import subprocess
    import sys
    import tempfile
    workers = max(1, min(workers or os.cpu_count() or 1, len(seeds)))
    chunks = [list(map(int, c)) for c in np.array_split(np.asarray(seeds), workers) if len(c)]
    env = {**os.environ, **_pinned_env(), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        procs, outs = [], []
        for i, chunk in enumerate(chunks):
            out = Path(tmp) / f"part{i}.npy"
            arg = json.dumps({"seeds": chunk, "spec": asdict(spec), "out": str(out)})
            procs.append(subprocess.Popen([sys.executable, "-c", WORKER, arg], env=env))
            outs.append(out)
        if any(p.wait() for p in procs):
            raise RuntimeError("chaos data generation failed in a worker process")
        return np.concatenate([np.load(o, allow_pickle=False) for o in outs])


#: the worker processes' program (numpy, and so OpenBLAS, loads in a fresh process)
WORKER = "import sys; from mifd.tasks.chaos import _main; _main(sys.argv[1])"


def _main(arg: str) -> None:
    """A worker of :func:`generate`: the samples of the seeds in ``arg`` (JSON) to an ``.npy``."""
    job = json.loads(arg)
    spec = ChaosSpec(**job["spec"])
    np.save(job["out"], np.stack([make_pair(s, spec) for s in job["seeds"]]), allow_pickle=False)


@dataclass(frozen=True)
class ChaosDataset:
    """A training pool and a held-out test set, generated from ``seed`` and cached on disk."""

    n_train: int = 10000
    n_test: int = 50
    seed: int = 0
    spec: ChaosSpec = ChaosSpec()

    def key(self) -> str:
        """The cache key: sizes, seed, spec and the hash of the code that generates the data
        (:func:`mifd.results.fingerprint.code_hash` of this module), so a change to it rebuilds."""
        from ..results.fingerprint import code_hash
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
        from ..results.store import CorruptFileError, default_roots, dump_blob, load_blob
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
