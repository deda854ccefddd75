"""Experiments computed from the results of other experiments (an audit of trained networks, an
analysis rerun with other settings), so that they can be redone without retraining.

A :class:`DerivedExperiment` names its inputs per config; :func:`mifd.run` loads them from the
same store (training them first if they are not stored) and passes them to ``train`` as
``inputs={name: RunResult}``. Its code hash covers the inputs' code (its module imports theirs),
and its result records which stored run it read (key, code hash, commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .base import Experiment


@dataclass
class DerivedExperiment(Experiment):
    #: per config, the runs it reads: ``{name: (experiment, profile, overrides)}``
    inputs: Callable[[Any], dict[str, tuple[str, str, dict[str, Any]]]] = field(
        default=lambda cfg: {})
