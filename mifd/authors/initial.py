"""mifd's initial weights of a seed, in the authors' layout, for their code to start from.

The causal test of the comparison (issue 39, item 3): where a trial takes a route (e.g.
silences a group instead of forming modules), start the authors' code from *our* initial
weights of that seed (``python -m mifd.authors run --seeds … --init-from ours``) and see
whether the route follows the weights rather than the code. The file holds the RNN's ``W_rec``, ``W_in``, ``W_out``,
``b`` and ``b_out`` as the authors' snapshots do (row-vector layout, shared by both codes); the
statistics network is not swapped (it is pre-trained on the RNN's states before the first MM
step in both codes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .driver import INIT


def ours(seed: int, profile: str = "book") -> dict[str, np.ndarray]:
    """The initial RNN weights of our ``wm`` trial of ``seed`` (``profile``'s network; a
    trial's initial weights depend on its seed and the network's size only)."""
    from ..experiments import get_experiment
    from ..experiments.wm import WMProblem
    cfg = get_experiment("wm").config(profile, {"conditions": ("mi",), "trials": 1,
                                                "seed": int(seed)})
    model = WMProblem(cfg, cfg.layout().seeds(), "cpu").model
    n = cfg.n
    return {k: getattr(model, k).detach().cpu().numpy()[0].reshape(shape(n)).astype(np.float32)
            for k, (_, shape) in INIT.items()}


def write(path: Path | str, arrays: dict[str, np.ndarray]) -> Path:
    """``arrays`` as the driver's ``--init-weights`` file (npz, atomically)."""
    path = Path(path)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: np.asarray(arrays[k], dtype=np.float32) for k in INIT})
    tmp.replace(path)
    return path
