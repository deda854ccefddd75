"""The paper's reported numbers (reference data, not results): mean, sd and n over trials.

Source: Tomoda, Tsuda & Yamaguti (2025), working-memory and chaotic-separation sections
(reference-facts §5). ``None`` where the paper gives no value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reported:
    mean: float
    sd: float | None
    n: int = 20
    note: str = ""


#: working memory: condition → metric → the paper's mean ± sd over n trials
WM = {
    "mi": {
        "success_rate": Reported(1.0, None, 20, "20/20 trials with accuracy > 0.9"),
        "mse": Reported(0.146, 0.0320),
        "D_cor": Reported(0.623, 0.316),
        "Q_cor": Reported(0.299, 0.153),
        "Q_str": Reported(0.114, 0.049, 20, "10/20 trials below 0.1"),
        "D_in": Reported(0.623, 0.31, 20, "identical to D_cor in the text: possibly a copy error"),
        "D_out": Reported(0.526, 0.261),
    },
    "no_mi": {
        "success_rate": Reported(1.0, None, 20, "20/20 trials with accuracy > 0.9"),
        "mse": Reported(0.166, 0.053),
        "D_cor": Reported(0.072, 0.057),
        "Q_cor": Reported(-0.0162, 0.012),
    },
}
#: comparisons the paper reports between working-memory conditions: metric → direction of mi vs
#: no_mi
WM_COMPARISONS = {"D_cor": "greater", "Q_cor": "greater"}
#: task MSE with vs without MI: the p of the paper's two-sample t-test (not significant)
WM_MSE_TTEST_P = 0.14
#: Pearson (r, p) of the final MI against the task loss across the MI trials
WM_MI_LOSS_PEARSON = (0.0046, 0.98)
#: (k, n): the paper's trials with Q_str below :data:`WM_QSTR_THRESHOLD`
WM_QSTR_BELOW_0_1 = (10, 20)
#: the paper's line between structurally modular trials and the rest
WM_QSTR_THRESHOLD = 0.1
#: epochs (one RNN step each) of the published working-memory runs
WM_TRAINING = 1000

#: RNN (MM) steps of the published separation runs
SEPARATION_TRAINING = 4000

#: comparisons the paper reports between separation conditions: (A, B, metric, direction of A
#: vs B)
SEPARATION_COMPARISONS = (
    ("mi_l2", "no_mi", "D_out", "greater"), ("mi_l2", "no_mi", "Q_str", "greater"),
    ("mi_l2", "no_mi", "NMI", "greater"), ("mi_l2", "mi_no_l2", "Q_str", "greater"),
    ("mi_l2", "mi_no_l2", "D_out", "greater"))
#: the working-memory pairs (functional, structural) of the "functional first" claim (Fig. 9)
WM_TIMING_PAIRS = (("Q_cor", "Q_str"), ("D_cor", "D_in"), ("D_cor", "D_out"))
#: the separation pairs (functional, structural) of the "functional first" claim (Fig. 16)
SEPARATION_TIMING_PAIRS = (("Q_cor", "Q_str"), ("D_cor", "D_out"))

#: chaotic separation: condition → metric → the paper's mean ± sd over n trials
SEPARATION = {
    "mi_l2": {"R2": Reported(0.973, 0.013), "D_cor": Reported(0.494, 0.285),
              "Q_cor": Reported(0.375, 0.090), "D_out": Reported(0.173, 0.151),
              "Q_str": Reported(0.088, 0.035), "NMI": Reported(0.926, 0.224)},
    "no_mi": {"D_out": Reported(0.021, 0.015), "Q_str": Reported(-0.0048, 0.0056),
              "NMI": Reported(0.018, 0.014)},
    "mi_no_l2": {"D_cor": Reported(0.460, 0.285), "Q_cor": Reported(0.380, 0.075),
                 "D_out": Reported(0.041, 0.032), "Q_str": Reported(0.013, 0.006)},
}


# --------------------------------------------------------------------------- Growing Brains
#: "Growing Brains" (Liu, Khona, Fiete & Tegmark 2023), read from its figures by eye (±5%;
#: ``../shared/reference/bimt-notes.md``): 400 units on a 20 × 20 grid, one network per setting.
#: Per method: (isolated-neuron ratio, its shuffle null), (within-cluster index variance, its
#: null); the "none" row is the paper's unregularized ("fully connected") network.
GROWING_BRAINS_ANATOMY = {
    "none": {"isolated": (0.69, 0.71), "index_var": (86_000.0, 82_000.0)},
    "l1": {"isolated": (0.64, 0.68), "index_var": (9_700.0, 9_300.0)},
    "bimt": {"isolated": (0.39, 0.67), "index_var": (4_200.0, 6_400.0)},
}
#: task error against active neurons (its Fig. 2g analogue): method → [(active, error), ...],
#: one point per regularization strength (7 for L1 and BIMT)
GROWING_BRAINS_ERROR_VS_ACTIVE = {
    "bimt": [(25, 0.17), (44, 0.095), (70, 0.057), (82, 0.045), (108, 0.031), (145, 0.026),
             (200, 0.028)],
    "l1": [(40, 0.195), (66, 0.097), (108, 0.045), (130, 0.031), (180, 0.030), (240, 0.033),
           (285, 0.036)],
    "none": [(355, 0.034)],
}
#: the network size of those readings
GROWING_BRAINS_UNITS = 400


def band_floor(paper: Any) -> float:
    """The lower edge of the paper's band for a reported value (a :class:`Reported`, or any
    object with ``mean`` and ``sd``): its mean − 1 sd."""
    return paper.mean - paper.sd
