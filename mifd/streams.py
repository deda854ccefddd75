"""Named random streams: every independent random stream of a trial, in one table.

Trial ``t`` of a run starts from seed ``s = seed + t`` (:class:`~mifd.experiments.base.Layout`):
its network's initial weights are drawn from a generator seeded with ``s`` itself, and each of
its other random streams from a generator seeded with ``s + offset``, the stream's offset in
:data:`STREAMS`. The offsets are far apart (and odd or prime-ish) so that no two streams of
any trial, nor of neighbouring trials, share a seed; a stream's offset never changes, since
every random draw of a stored result depends on it (``tests/test_streams.py`` pins them).

The authors' driver (:data:`mifd.authors.driver.OFFSETS`) seeds its TensorFlow generators with
the offsets of ``wm.critic``, ``wm.task`` and ``wm.eval`` (it runs without mifd installed, so it
keeps its own copy; a test checks that they agree).
"""

from __future__ import annotations

from typing import Any, Iterable

from .config import ConfigError

#: stream name → (offset added to a trial's seed, what the stream draws)
STREAMS: dict[str, tuple[int, str]] = {
    # working memory (mifd.experiments.wm and everything built on it)
    "wm.task": (7_000_003, "the flip-flop task's inputs and targets, the recurrent noise and "
                           "the initial states of every batch"),
    "wm.critic": (31_337, "the statistics network's initial weights"),
    "wm.sm": (9_100_003, "the statistics network's input noise, shuffles and sample subsets"),
    "wm.eval": (5_550_001, "the snapshots' evaluation batches"),
    "wm.audit_data": (4_242_001, "the post-hoc audit's train and held-out pools, and its "
                                 "critic's noise and shuffles"),
    "wm.audit_critic": (77_001, "the post-hoc audit's fresh critic's initial weights"),
    "wm_audit.validation": (5_100_001, "wm-audit's validation pool and its shuffles"),
    "wm_audit.test": (5_200_001, "wm-audit's test shuffles and permutations"),
    "penalties.calibration": (6_100_003, "the matched-strength calibration batch"),
    # chaotic separation (mifd.experiments.separation and its variants)
    "separation.data": (3_000_017, "the minibatches drawn from the training pool"),
    "separation.critic": (41_113, "the statistics network's initial weights"),
    "separation.sm": (8_200_009, "the statistics network's input noise, shuffles and sample "
                                 "subsets"),
    # Growing Brains (mifd.experiments.growing_brains)
    "growing_brains.noise": (4_000_037, "the recurrent noise"),
}


def seed(stream: str, base: int) -> int:
    """The seed of ``stream`` for a trial of seed ``base``: ``base`` + the stream's offset
    (one-line error for an unknown stream)."""
    if stream not in STREAMS:
        raise ConfigError(f"parameter 'stream': got {stream!r}; allowed: one of "
                          + ", ".join(map(repr, STREAMS)))
    return base + STREAMS[stream][0]


def seeds(stream: str, bases: Iterable[int]) -> list[int]:
    """:func:`seed` of ``stream`` for every trial seed in ``bases``."""
    return [seed(stream, s) for s in bases]


def generators(stream: str, bases: Iterable[int], device: Any) -> list[Any]:
    """One ``torch.Generator`` on ``device`` per trial seed in ``bases``, seeded for
    ``stream`` (:func:`seed`)."""
    import torch
    return [torch.Generator(device=device).manual_seed(seed(stream, s)) for s in bases]
