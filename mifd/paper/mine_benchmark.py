"""The MI-estimator benchmark against its literature: the published properties of the bounds
(InfoNCE capped at log n; SMILE's lower error than NWJ at high MI; Song & Ermon 2020, Poole et
al. 2019), each checked on a ``mine-gaussian`` run by a stated rule, and the bias, variance and
MSE per stage."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..mine import BOUND_LABELS


def checks(trials: dict, cfg: Any) -> list[dict]:
    """Published properties of the benchmark, each checked on this run with a stated rule."""
    rows = []
    top = max(cfg.stages)
    for cond, m in trials.items():
        if not cond.startswith("staircase/"):
            continue
        run = cond.removeprefix("staircase/").rsplit("/", 1)[0]
        if cond.endswith("/infonce"):
            worst = max(float(np.max(m[f"mean@{s:g}"])) for s in cfg.stages)
            rows.append({"run": run,
                         "property": f"InfoNCE never exceeds log n = {math.log(cfg.batch):.2f}",
                         "rule": "max over stages of the tail mean ≤ log n",
                         "measured": round(worst, 3), "holds": worst <= math.log(cfg.batch) + 1e-6})
        if cond.endswith("/smile") and f"{cond[:-6]}/nwj" in trials:
            a = float(np.mean(m[f"mse@{top:g}"]))
            b = float(np.mean(trials[f"{cond[:-6]}/nwj"][f"mse@{top:g}"]))
            rows.append({"run": run, "property": f"SMILE has lower MSE than NWJ at {top:g} nats",
                         "rule": "tail MSE(SMILE) < tail MSE(NWJ)",
                         "measured": f"{a:.2f} vs {b:.2f}", "holds": a < b})
    return rows


def stage_table(trials: Mapping[str, Mapping[str, list]]) -> pd.DataFrame:
    """Bias, variance and MSE per run, bound and stage (means over seeds)."""
    rows = []
    for cond, metrics in trials.items():
        if not cond.startswith("staircase/"):
            continue
        _, critic, data, bname = cond.split("/")
        stages = sorted({float(k.split("@")[1]) for k in metrics})
        for mi in stages:
            rows.append({"critic": critic, "data": data,
                         "estimator": BOUND_LABELS.get(bname, bname),
                         "true MI": mi,
                         **{k: float(np.mean(metrics[f"{k}@{mi:g}"]))
                            for k in ("mean", "bias", "var", "mse")}})
    return pd.DataFrame(rows).set_index(["critic", "data", "estimator", "true MI"]).round(3)
