"""mifd: functional differentiation in RNNs by mutual-information minimization.

A reproduction library for Tomoda, Tsuda & Yamaguti (2025). Entry points:
:func:`mifd.run` (train or load an experiment by name and profile), :mod:`mifd.mine`
(MI estimators), :mod:`mifd.config` (profiles and validated configs).
"""

__version__ = "0.2.0"

from .config import ConfigError  # noqa: E402
from .experiments import EXPERIMENTS, get_experiment  # noqa: E402
from .runner import check_parameters, run  # noqa: E402

__all__ = ["ConfigError", "EXPERIMENTS", "check_parameters", "get_experiment", "run", "__version__"]
