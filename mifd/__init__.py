"""mifd: functional differentiation in RNNs by mutual-information minimization.

A reproduction library for Tomoda, Tsuda & Yamaguti (2025). Entry points:
:func:`mifd.run` (train or load an experiment by name and profile), :mod:`mifd.mine`
(MI estimators), :mod:`mifd.config` (profiles and validated configs).
"""

from ._version import __version__
from .config import ConfigError
from .experiments import EXPERIMENTS, get_experiment
from .results.runner import check_parameters, run

__all__ = ["ConfigError", "EXPERIMENTS", "check_parameters", "get_experiment", "run", "__version__"]
