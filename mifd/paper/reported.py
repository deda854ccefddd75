"""The paper's reported numbers (reference data, not results): mean, sd and n over trials.

Source: Tomoda, Tsuda & Yamaguti (2025), working-memory and chaotic-separation sections
(reference-facts §5). ``None`` where the paper gives no value.
"""

from __future__ import annotations

from dataclasses import dataclass


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
