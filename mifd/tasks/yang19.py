"""The 20 cognitive tasks of Yang et al. (2019), as packaged by neurogym, in batches for supervised
training of one RNN on all of them (the task set of "Growing Brains", Liu, Khona, Fiete & Tegmark
2023).

Trials come from ``neurogym.envs.collections.yang19`` (neurogym 2.3.1): this module does not
re-implement the tasks, it seeds neurogym's environments, calls their ``new_trial`` and moves
their observation and ground truth into one shared space with Yang et al.'s target format.
neurogym is imported lazily (only when a batch is made); if it is missing,
:class:`~mifd.tasks.yang19_trials.NeurogymMissingError` (an ``ImportError``) says how to install it.

Shared spaces (``R = spec.dim_ring``):

- inputs ``1 + 2R + 20``: fixation, modality-1 ring, modality-2 ring, one-hot rule (the task's
  index in ``TASKS``, on at every step of the trial). neurogym already writes every task's
  observation as ``fixation | ring 1 | ring 2``: single-modality tasks (go, anti, dms, ... families)
  put the stimulus in one ring, chosen per trial, and leave the other zero; dm1/dlydm1 use ring 1,
  dm2/dlydm2 ring 2, but neurogym's dm family adds its input noise to *both* rings, so the unused
  ring carries noise only.
- outputs ``1 + R``: fixation unit and response ring. Preferred directions ``2πk/R``.

Choices (all spec fields):

- ``dim_ring`` = 32 (Yang et al.'s ``n_eachring``; neurogym's default is 16, any even number works
  because the match tasks split the ring in halves); ``dt`` = 20 ms (Yang et al.; neurogym's default
  is 100). neurogym floors every period to a multiple of ``dt``.
- ``sigma`` = 1.0: neurogym's input-noise parameter of the dm and match families (per-step noise
  std ``sigma / sqrt(dt)``); the reach families (go, anti, ...) have no input noise in neurogym.
- ``fix_input``: ``"neurogym"`` keeps neurogym's fixation input, which in the dm and match
  families is on during the first ("fixation") period only, not until the response; ``"yang"`` sets
  it to 1 at every step before the response period (Yang et al.'s convention). Nothing else changes.
- Targets, from the neurogym ground-truth action ``a`` per step (0 = fixate, ``k`` = ring unit
  ``k-1``): fixation output ``fix_high`` (0.8, as Yang et al.'s public code) when ``a = 0`` (before the response, and during the
  response of trials whose answer is to keep fixating, e.g. non-match trials of dms) and
  ``fix_low`` (0.05) when ``a > 0``; ring outputs ``ring_base + ring_peak·exp(-d²/2(π/8)²)``
  (0.05 + 0.8·bump, ``d`` the circular distance to the target direction) in the response, and
  ``ring_base`` elsewhere.
- Loss mask (Yang et al.'s code): weight 0 for the first ``skip_ms`` (100 ms) of the sequence,
  1 before the response, 0 in a ``grace_ms`` (100 ms) grace period after response onset, then
  ``response_weight`` (5) until the end; 0 on end padding. Yang et al. also double the weight of
  the fixation output: the batch carries ``unit_weight`` (``fix_weight`` = 2 for the fixation unit,
  1 for the ring), see :func:`loss_weights`.
- Padding to the batch's longest trial: ``pad="start"`` (default) lengthens each shorter trial's
  initial fixation period (fixation input 1, rule on, fixation target, weight 1), so that every
  trial ends at the last step with its response period, as the trials of a Yang et al. batch do;
  ``pad="end"`` appends zero inputs with weight 0 (``valid`` marks the real steps).
- Stimulus modality of single-modality tasks: drawn uniformly per trial from the batch's
  generator (neurogym's own schedule over the two modalities alternates them trial by trial).
- :func:`batch` makes a batch of one task (Yang et al.'s default training draws one task per
  batch: ``mixed_batch(..., per="batch")``); :func:`mixed_batch` with ``per="trial"`` (default)
  draws each trial's task uniformly.
- Trial pool: neurogym makes trials one by one in Python (about 0.1-1.3 ms each at dt = 20 ms).
  With ``cache_size > 0`` each task keeps a pool of ``cache_size`` trials, made once
  (deterministically from ``cache_seed`` and the task) and sampled with replacement. With
  ``cache_refresh = p > 0``, after each draw of ``n`` trials from a pool, Binomial(n, p) pool
  entries (chosen at random) are replaced by fresh trials: on average a fraction p of the trials
  is made fresh, whatever the mix of tasks. The pool then depends on the history of calls
  (still deterministic given the sequence of seeds);
  :func:`~mifd.tasks.yang19_trials.clear_cache` starts again.

Every batch is deterministic given the generator (``numpy.random.Generator`` or an int seed): the
neurogym environments are re-seeded from it at every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .yang19_trials import TASKS, _trials
# the neurogym side's public names, here as before the split
from .yang19_trials import NeurogymMissingError, clear_cache, longest_pooled  # noqa: F401

N_RULES = len(TASKS)

PADS = ("start", "end")
FIX_INPUTS = ("neurogym", "yang")
CRITERIA = ("strict", "last")
PERS = ("trial", "batch")
DTS = (1, 2, 4, 5, 10, 20, 25, 50, 100)   # divisors of 100 ms: grace and skip are whole steps

@dataclass(frozen=True)
class Yang19Spec:
    """Configuration of the task source (see the module docstring for each choice)."""

    dim_ring: int = 32            # ring units per modality and in the output ring
    dt: int = 20                  # ms per step
    sigma: float = 1.0            # neurogym input-noise parameter (dm and match families)
    fix_input: str = "neurogym"   # "neurogym" | "yang"
    pad: str = "start"            # "start" (lengthen the fixation) | "end" (zeros, weight 0)
    fix_high: float = 0.8         # fixation-output target while fixating
    fix_low: float = 0.05         # fixation-output target while responding
    ring_base: float = 0.05       # ring-output target baseline
    ring_peak: float = 0.8        # ring-output bump height above the baseline
    skip_ms: int = 100            # initial span of weight 0
    grace_ms: int = 100           # span of weight 0 after response onset
    response_weight: float = 5.0  # weight in the response period after the grace period
    fix_weight: float = 2.0       # extra weight of the fixation output unit (unit_weight[0])
    cache_size: int = 0           # trials pooled per task (0: fresh trials every batch)
    cache_refresh: float = 0.0    # expected fraction of drawn trials replaced by fresh ones
    cache_seed: int = 0           # seed of the pools


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_real(x: Any) -> bool:
    return (_is_int(x) or isinstance(x, (float, np.floating))) and bool(np.isfinite(x))


def _bad(name: str, got: Any, allowed: str) -> ValueError:
    return ValueError(f"parameter '{name}': got {got!r}; allowed: {allowed}")


def validate(spec: Yang19Spec) -> Yang19Spec:
    """Check every field of ``spec``; raise a one-line ``ValueError`` for the first bad one."""
    if not isinstance(spec, Yang19Spec):
        raise _bad("spec", type(spec).__name__, "a Yang19Spec")
    if not _is_int(spec.dim_ring) or spec.dim_ring < 2 or spec.dim_ring % 2:
        raise _bad("dim_ring", spec.dim_ring, "an even integer >= 2")
    if not _is_int(spec.dt) or spec.dt not in DTS:
        raise _bad("dt", spec.dt, f"one of {DTS} (ms)")
    if not _is_real(spec.sigma) or spec.sigma < 0:
        raise _bad("sigma", spec.sigma, "a finite number >= 0")
    if spec.fix_input not in FIX_INPUTS:
        raise _bad("fix_input", spec.fix_input, ", ".join(map(repr, FIX_INPUTS)))
    if spec.pad not in PADS:
        raise _bad("pad", spec.pad, ", ".join(map(repr, PADS)))
    for name in ("fix_high", "fix_low", "ring_base", "ring_peak", "response_weight", "fix_weight"):
        v = getattr(spec, name)
        if not _is_real(v) or (name.endswith("weight") and v < 0):
            raise _bad(name, v, "a finite number" + (" >= 0" if name.endswith("weight") else ""))
    for name in ("skip_ms", "grace_ms", "cache_size", "cache_seed"):
        v = getattr(spec, name)
        if not _is_int(v) or v < 0:
            raise _bad(name, v, "an integer >= 0")
    if not _is_real(spec.cache_refresh) or not 0 <= spec.cache_refresh <= 1:
        raise _bad("cache_refresh", spec.cache_refresh, "a number in [0, 1]")
    return spec


def n_inputs(spec: Yang19Spec = Yang19Spec()) -> int:
    """Size of the shared input space: fixation + 2 rings + 20 rules."""
    return 1 + 2 * validate(spec).dim_ring + N_RULES


def n_outputs(spec: Yang19Spec = Yang19Spec()) -> int:
    """Size of the shared output space: fixation + ring."""
    return 1 + validate(spec).dim_ring


def input_slots(spec: Yang19Spec = Yang19Spec()) -> dict[str, slice]:
    """Named slices of the input space: ``fixation``, ``ring1``, ``ring2``, ``rule``."""
    r = validate(spec).dim_ring
    return {"fixation": slice(0, 1), "ring1": slice(1, 1 + r), "ring2": slice(1 + r, 1 + 2 * r),
            "rule": slice(1 + 2 * r, 1 + 2 * r + N_RULES)}


def output_slots(spec: Yang19Spec = Yang19Spec()) -> dict[str, slice]:
    """Named slices of the output space: ``fixation``, ``ring``."""
    r = validate(spec).dim_ring
    return {"fixation": slice(0, 1), "ring": slice(1, 1 + r)}


def preferred_directions(dim_ring: int) -> np.ndarray:
    """Preferred directions ``2πk/dim_ring`` of the ring units (as in neurogym and Yang et al.)."""
    return 2 * np.pi * np.arange(dim_ring) / dim_ring


def circular_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance on the circle between angles ``a`` and ``b`` (radians), in [0, π]."""
    d = np.mod(np.abs(np.asarray(a) - np.asarray(b)), 2 * np.pi)
    return np.minimum(d, 2 * np.pi - d)


def popvec(ring: np.ndarray) -> np.ndarray:
    """Population-vector read-out (radians in [0, 2π)) of ring activity ``(..., R)`` as Yang et al.
    define it: the angle of ``Σ y·(cos θ, sin θ) / Σ y``."""
    ring = np.asarray(ring, dtype=np.float64)
    theta = preferred_directions(ring.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = ring.sum(axis=-1)
        c = (ring * np.cos(theta)).sum(axis=-1) / s
        n = (ring * np.sin(theta)).sum(axis=-1) / s
    return np.mod(np.arctan2(n, c), 2 * np.pi)


# ---------------------------------------------------------------------------------------------
# neurogym side (mifd.tasks.yang19_trials): which task

def _check_task(task: Any) -> int:
    if not isinstance(task, str) or task not in TASKS:
        raise _bad("task", task, "one of " + ", ".join(TASKS))
    return TASKS.index(task)


# ---------------------------------------------------------------------------------------------
# assembly into the shared space

def _target_table(spec: Yang19Spec) -> np.ndarray:
    """Row ``a`` = the output target for neurogym action ``a`` (0: fixate; k: ring unit k-1)."""
    r = spec.dim_ring
    theta = preferred_directions(r)
    table = np.full((r + 1, r + 1), spec.ring_base, dtype=np.float64)
    table[0, 0] = spec.fix_high
    table[1:, 0] = spec.fix_low
    d = circular_distance(theta[:, None], theta[None, :]) / (np.pi / 8)
    table[1:, 1:] += spec.ring_peak * np.exp(-d ** 2 / 2)
    return table.astype(np.float32)


def _assemble(spec: Yang19Spec, trials: Sequence[tuple],
              task_ids: np.ndarray) -> dict[str, np.ndarray]:
    r = spec.dim_ring
    b = len(trials)
    lengths = np.array([len(t[1]) for t in trials], dtype=np.int64)
    L = int(lengths.max())
    offset = (L - lengths) if spec.pad == "start" else np.zeros(b, dtype=np.int64)
    x = np.zeros((b, L, 1 + 2 * r + N_RULES), dtype=np.float32)
    gt = np.zeros((b, L), dtype=np.int64)
    valid = np.zeros((b, L), dtype=bool)
    response = np.zeros((b, L), dtype=bool)
    rstart = np.empty(b, dtype=np.int64)
    ring = np.empty(b, dtype=np.int64)
    for i, (ob, g, start, m) in enumerate(trials):
        o, n = int(offset[i]), int(lengths[i])
        x[i, o:o + n, :1 + 2 * r] = ob
        gt[i, o:o + n] = g
        rstart[i] = o + start
        response[i, o + start:o + n] = True
        ring[i] = m
        if spec.pad == "start":
            valid[i] = True
            x[i, :o, 0] = 1.0
        else:
            valid[i, :n] = True
        if spec.fix_input == "yang":
            x[i, :o + start, 0] = 1.0
    rows = np.arange(b)
    x[rows[:, None], np.arange(L)[None, :], 1 + 2 * r + task_ids[:, None]] = valid

    targets = _target_table(spec)[gt]
    mask = np.where(response, np.float32(spec.response_weight), np.float32(1.0))
    grace = spec.grace_ms // spec.dt
    steps = np.arange(L)[None, :]
    mask[(steps >= rstart[:, None]) & (steps < rstart[:, None] + grace)] = 0.0
    skip = spec.skip_ms // spec.dt
    mask[:, :skip] = 0.0
    mask[~valid] = 0.0

    last = offset + lengths - 1
    a_last = gt[rows, last]
    theta = preferred_directions(r)
    should_fix = a_last == 0
    direction = np.where(should_fix, -1.0, theta[np.maximum(a_last - 1, 0)]).astype(np.float32)
    hold = valid & (steps >= skip) & (~response | should_fix[:, None])
    unit_weight = np.ones(r + 1, dtype=np.float32)
    unit_weight[0] = spec.fix_weight
    return {
        "inputs": x, "targets": targets, "mask": mask.astype(np.float32),
        "unit_weight": unit_weight,
        "gt": gt, "direction": direction, "should_fix": should_fix, "response": response,
        "response_start": rstart, "last": last, "hold": hold, "valid": valid, "lengths": lengths,
        "task": task_ids.astype(np.int64), "ring": ring,
    }


def _rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if _is_int(rng) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise _bad("rng", rng, "a numpy.random.Generator or an integer seed >= 0")


def _check_batch_size(batch_size: Any) -> int:
    if not _is_int(batch_size) or batch_size < 1:
        raise _bad("batch_size", batch_size, "an integer >= 1")
    return int(batch_size)


def batch(spec: Yang19Spec, task: str, batch_size: int,
          rng: np.random.Generator | int) -> dict[str, np.ndarray]:
    """A batch of ``batch_size`` trials of ``task``, padded to a common length ``L``.

    Returns numpy arrays (``B`` = batch_size, ``L`` = longest trial, ``R`` = dim_ring):

    - ``inputs`` (B, L, 1+2R+20), ``targets`` (B, L, 1+R), ``mask`` (B, L) float32 loss weights,
      ``unit_weight`` (1+R,) float32 per-output weights (see :func:`loss_weights`);
    - ``gt`` (B, L) neurogym's action per step (0 fixate, k ring unit k-1);
    - ``direction`` (B,) target direction in radians, -1 for trials whose answer is to keep fixating
      (``should_fix`` (B,) bool);
    - ``response`` (B, L) bool response (neurogym "decision") period, ``response_start`` (B,),
      ``last`` (B,) index of the trial's last step, ``hold`` (B, L) bool steps at which
      :func:`performance` (strict) requires fixation, ``valid`` (B, L) bool non-padding steps,
      ``lengths`` (B,) neurogym trial lengths, ``task`` (B,) task index, ``ring`` (B,) ring (0/1)
      holding the stimulus, -1 when both rings hold stimuli.
    """
    validate(spec)
    tid = _check_task(task)
    n = _check_batch_size(batch_size)
    g = _rng(rng)
    return _assemble(spec, _trials(spec, task, n, g), np.full(n, tid, dtype=np.int64))


def mixed_batch(spec: Yang19Spec, batch_size: int, rng: np.random.Generator | int,
                tasks: Sequence[str] = TASKS, per: str = "trial") -> dict[str, np.ndarray]:
    """A batch over several tasks: ``per="trial"`` draws each trial's task uniformly from
    ``tasks``; ``per="batch"`` draws one task for the whole batch (Yang et al.'s training)."""
    validate(spec)
    n = _check_batch_size(batch_size)
    if isinstance(tasks, str) or len(tasks) == 0:
        raise _bad("tasks", tasks, "a non-empty sequence of names from TASKS")
    ids = np.array([_check_task(t) for t in tasks], dtype=np.int64)
    if per not in PERS:
        raise _bad("per", per, ", ".join(map(repr, PERS)))
    g = _rng(rng)
    if per == "batch":
        return batch(spec, TASKS[int(ids[g.integers(len(ids))])], n, g)
    task_ids = ids[g.integers(len(ids), size=n)]
    trials: list[tuple | None] = [None] * n
    for t in np.unique(task_ids):
        where = np.flatnonzero(task_ids == t)
        for i, trial in zip(where, _trials(spec, TASKS[int(t)], len(where), g)):
            trials[int(i)] = trial
    return _assemble(spec, trials, task_ids)  # type: ignore[arg-type]


def loss_weights(b: dict[str, np.ndarray]) -> np.ndarray:
    """Per-output loss weights ``(B, L, 1+R)`` = ``mask[..., None] * unit_weight`` (Yang et al.'s
    cost mask; their loss is the mean over steps, trials and units of
    ``weight·(y − target)²``)."""
    return b["mask"][..., None] * b["unit_weight"]


def to_torch(b: dict[str, np.ndarray], device: Any = None) -> dict[str, Any]:
    """The batch as torch tensors (float32, bool and int64 kept) on ``device``."""
    import torch
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in b.items()}


def _plain(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def performance(outputs: Any, b: dict[str, Any], criterion: str = "strict",
                tolerance: float = 0.2 * np.pi, threshold: float = 0.5) -> np.ndarray:
    """Per-trial correctness (bool array (B,)) of network ``outputs`` (B, L, 1+R) on batch ``b``.

    At the trial's last step (in its response period) the read-out direction is the population
    vector of the ring outputs and the network fixates when the fixation output is > ``threshold``.
    A trial whose answer is a direction is correct when the network does not fixate and the
    read-out is within ``tolerance`` (0.2π) of the target; a keep-fixating trial is correct when
    the network fixates. This is all Yang et al.'s code checks (``criterion="last"``). With
    ``criterion="strict"`` (default) the fixation output must also stay > ``threshold`` at every
    ``hold`` step: every step before the response period except the first ``skip_ms`` (and, for
    keep-fixating trials, every step of the response period).
    """
    if criterion not in CRITERIA:
        raise _bad("criterion", criterion, ", ".join(map(repr, CRITERIA)))
    if not _is_real(tolerance) or not 0 < tolerance <= np.pi:
        raise _bad("tolerance", tolerance, "a number in (0, pi]")
    if not _is_real(threshold):
        raise _bad("threshold", threshold, "a finite number")
    bn = {k: _plain(b[k]) for k in ("targets", "direction", "should_fix", "last", "hold")}
    y = _numpy(outputs)
    if y.shape != bn["targets"].shape:
        raise _bad("outputs", f"shape {y.shape}",
                   f"the batch's target shape {tuple(bn['targets'].shape)}")
    rows = np.arange(y.shape[0])
    last = bn["last"].astype(np.int64)
    fixating = y[rows, last, 0] > threshold
    read_out = popvec(y[rows, last, 1:])
    near = circular_distance(read_out, bn["direction"].astype(np.float64)) < tolerance
    should_fix = bn["should_fix"].astype(bool)
    ok = np.where(should_fix, fixating, near & ~fixating)
    if criterion == "strict":
        hold = bn["hold"].astype(bool)
        ok &= np.all((y[..., 0] > threshold) | ~hold, axis=1)
    return ok
