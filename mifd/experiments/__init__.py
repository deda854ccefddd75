"""The built-in experiments, in an explicit registry (importing a module registers nothing).

:data:`EXPERIMENTS` maps each name to its :class:`~mifd.experiments.base.Experiment`; an
experiment lives in one module of this package and adds one line here.
"""

from __future__ import annotations

from ..config import ConfigError
from .base import Experiment
from .bimt import EXPERIMENT as BIMT
from .bimt_separation import EXPERIMENT as BIMT_SEPARATION
from .growing_brains import EXPERIMENT as GROWING_BRAINS
from .mine_gaussian import EXPERIMENT as MINE_GAUSSIAN
from .penalties import EXPERIMENT as PENALTIES
from .penalties_separation import EXPERIMENT as PENALTIES_SEPARATION
from .separation import EXPERIMENT as SEPARATION
from .wm import EXPERIMENT as WM
from .wm_audit import EXPERIMENT as WM_AUDIT
from .wm_mechanism import EXPERIMENT as WM_MECHANISM

#: every registered experiment by name: the MINE Gaussian benchmark, working memory (the leaky
#: RNN on the 2-bit flip-flop task), the post-hoc audit of its networks, a look at its
#: optimizers while the modules fade (wm-mechanism), chaotic signal
#: separation (the GRU), BIMT's wiring cost beside MI minimization on both tasks, and cheaper
#: dependence penalties in place of MINE on both tasks, and Growing Brains (BIMT on the 20
#: cognitive tasks of Yang et al. 2019)
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (MINE_GAUSSIAN, WM, WM_AUDIT,
                                                             WM_MECHANISM,
                                                             SEPARATION, BIMT,
                                                             BIMT_SEPARATION, PENALTIES,
                                                             PENALTIES_SEPARATION,
                                                             GROWING_BRAINS)}


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name`` (one-line :class:`~mifd.ConfigError` otherwise)."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"parameter 'experiment': got {name!r}; allowed: one of "
                          + ", ".join(repr(n) for n in sorted(EXPERIMENTS)))
    return EXPERIMENTS[name]


__all__ = ["EXPERIMENTS", "Experiment", "get_experiment"]
