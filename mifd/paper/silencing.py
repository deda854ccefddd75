"""Is a group silenced (the paper's Fig. 8)? The rule, the measures it reads, and its calibration:
hand-built networks with one group cut off against noisy undifferentiated ones, and the no-MI
trials of a run as the noise floor.

A silenced group, as the paper's Fig. 8 shows it, carries neither memory bit (its units'
``|corr|`` with both targets near zero while the other group carries both) and the readout ignores
it (its rows of ``|W_out|`` near zero). Its units need not be quiet: with the noise added outside
the leak α every unit's rate keeps varying, so the rate s.d. of a cut-off group stays at about
0.4 of the other's (the committed working-memory run: 0.415–0.426), which the former rule
("rate s.d. ratio < 0.25") could not see. Each measure is a *ratio*: the less coupled group's
mean over its units divided by the other group's (1: alike, 0: one group carries nothing)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import metrics

#: a group is silenced in activity when its units' mean ``|corr|`` with the targets (each unit's
#: larger of the two bits) is below this fraction of the other group's. The noise floor — the
#: lowest ratio of a no-MI trial, where neither group is silenced — is 0.50 in the committed
#: book run (10 trials; the next lowest 0.74); a cut-off group's units correlate with the bits
#: only through estimation noise, ratios 0.05–0.14 in the committed MI trials that show Fig. 8
#: and about 0.08–0.14 in the hand-built cut-off networks (:func:`hand_built`, seed 0), whose
#: noisy undifferentiated networks go down to about 0.38. Half the noise floor sits between
SILENCED_CORR = 0.25
#: a group is silenced in the weights when its rows of ``|W_out|`` (summed over the two outputs)
#: average below this fraction of the other group's. No-MI noise floor 0.30 (the next lowest
#: 0.62); the MI trials with a cut-off group 0.08–0.18; hand-built cut-off networks about 0.02,
#: noisy undifferentiated ones from about 0.69. Between the two, as the activity threshold
SILENCED_WOUT = 0.25
#: the rule in one sentence, printed on the failure-modes page
RULE = (f"a group is silenced when its units' mean |corr| with the targets is below "
        f"{SILENCED_CORR:g} × the other group's (activity: it carries neither bit) and its mean "
        f"row of |W_out| is below {SILENCED_WOUT:g} × the other group's (weights: the readout "
        "ignores it), the same group in both; the rate s.d. and |W_in| ratios are shown, not used "
        "(a cut-off group keeps varying at the noise floor, about 0.4 of the other's s.d.)")
#: the ratios a trial is measured by, in the order of the tables
MEASURES = ("rate sd ratio", "|corr| ratio", "|W_out| ratio", "|W_in| ratio")


def _ratio(per_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per trial (rows of ``per_unit`` ``(T, N)``, the first half of the units group 1): the
    smaller group mean over the larger, and which group (1 or 2) is the smaller."""
    a = np.nan_to_num(np.asarray(per_unit, dtype=float), nan=0.0)
    half = a.shape[1] // 2
    g1, g2 = a[:, :half].mean(1), a[:, half:].mean(1)
    ratio = np.minimum(g1, g2) / np.maximum(np.maximum(g1, g2), 1e-12)
    return ratio, np.where(g2 <= g1, 2, 1)


def measures(rate_sd: np.ndarray, target_corr: np.ndarray, w_out: np.ndarray,
             w_in: np.ndarray) -> pd.DataFrame:
    """One row per trial: the :data:`MEASURES` ratios and the less coupled group by ``|corr|`` and
    by ``|W_out|``. ``rate_sd`` ``(T, N)``: each unit's rate s.d.; ``target_corr`` ``(T, N, 2)``:
    ``|corr|`` of each unit with each target; ``w_out`` ``(T, N, 2)``; ``w_in`` ``(T, inputs, N)``."""
    r_sd, _ = _ratio(rate_sd)
    r_c, low_c = _ratio(np.abs(np.asarray(target_corr, float)).max(-1))
    r_o, low_o = _ratio(np.abs(np.asarray(w_out, float)).sum(-1))
    r_i, _ = _ratio(np.abs(np.asarray(w_in, float)).sum(1))
    return pd.DataFrame({"rate sd ratio": r_sd, "|corr| ratio": r_c, "|W_out| ratio": r_o,
                         "|W_in| ratio": r_i, "low group (|corr|)": low_c,
                         "low group (|W_out|)": low_o})


def readout_ratio(w_out: np.ndarray) -> np.ndarray:
    """Per trial, the ``|W_out|`` ratio of :func:`measures` alone (``w_out`` ``(T, N, 2)``): the
    half of the rule that needs no activity — a trial whose ratio is at least
    :data:`SILENCED_WOUT` has no silenced group, whatever its activity."""
    return _ratio(np.abs(np.asarray(w_out, float)).sum(-1))[0]


def silenced(m: pd.DataFrame) -> pd.Series:
    """The rule (:data:`RULE`) on :func:`measures`: per trial, whether a group is silenced."""
    return ((m["|corr| ratio"] < SILENCED_CORR) & (m["|W_out| ratio"] < SILENCED_WOUT)
            & (m["low group (|corr|)"] == m["low group (|W_out|)"]))


def of_run(rr: Any) -> pd.DataFrame:
    """:func:`measures` of every trial of a ``wm`` run (its final snapshot), with its condition
    and whether the rule finds a group silenced."""
    f, w = rr.result["final"], rr.result["weights"]
    m = measures(f["group_rate_sd"], f["unit_target_corr"], np.asarray(w["W_out"][-1]),
                 np.asarray(w["W_in"][-1]))
    lay = rr.layout
    m.insert(0, "condition", [lay.conditions[t // lay.per_condition] for t in range(lay.size)])
    m["silenced"] = silenced(m)
    return m


#: samples and units of a hand-built network, and its inputs (as the flip-flop task: 4)
HAND_SAMPLES, HAND_UNITS, HAND_INPUTS = 4000, 40, 4
#: a bit of the hand-built targets flips with this probability per step (long memory periods)
HAND_FLIP = 0.01
#: the hand-built noise's AR(1) coefficient: slow noise, so a unit unrelated to the bits still
#: shows ``|corr|`` of a few hundredths with them, as estimates on a finite batch do
HAND_NOISE_AR = 0.9


def _bits(rng: np.random.Generator) -> np.ndarray:
    """Two independent ±1 telegraph signals ``(samples, 2)``."""
    flips = rng.random((HAND_SAMPLES, 2)) < HAND_FLIP
    return np.where(np.cumsum(flips, 0) % 2 == 0, 1.0, -1.0) * rng.choice([-1.0, 1.0], 2)


def _noise(rng: np.random.Generator, units: int) -> np.ndarray:
    """Unit-variance AR(1) noise ``(samples, units)``."""
    e = rng.standard_normal((HAND_SAMPLES, units)) * np.sqrt(1 - HAND_NOISE_AR ** 2)
    x = np.empty_like(e)
    x[0] = rng.standard_normal(units)
    for t in range(1, HAND_SAMPLES):
        x[t] = HAND_NOISE_AR * x[t - 1] + e[t]
    return x


def _network(rng: np.random.Generator, kind: str) -> dict[str, np.ndarray]:
    """One hand-built network of ``kind`` (:data:`HAND_KINDS`): unit drives (bits mixed by
    random weights, plus noise), rates ``tanh``, and weights to match."""
    n, half, s = HAND_UNITS, HAND_UNITS // 2, _bits(rng)
    mix = rng.standard_normal((2, n))
    gain2, w2, noise = 1.0, 1.0, rng.uniform(0.5, 2.0, n)
    if kind == "one group cut off":  # group 2: no bit, no input, no readout; noise at 0.4
        mix[:, half:], noise[half:], w2 = 0.0, 0.4 * np.abs(mix[:, :half]).mean(), 0.02
    elif kind == "functional split":  # group 1 holds bit 1, group 2 bit 2
        mix[1, :half], mix[0, half:] = 0.0, 0.0
    elif kind == "noisy, undifferentiated":  # both bits in both, group 2 weaker and noisier
        gain2 = rng.uniform(0.4, 1.0)
        noise[half:] *= rng.uniform(1.0, 2.0)
    mix[:, half:] *= gain2
    rates = np.tanh(s @ mix + noise * _noise(rng, n))
    scale = np.r_[np.ones(half), np.full(n - half, w2)]
    return {"rate_sd": rates.std(0), "target_corr": metrics.unit_signal_corr(rates, s),
            "w_out": rng.standard_normal((n, 2)) * scale[:, None],
            "w_in": rng.standard_normal((HAND_INPUTS, n)) * np.where(scale < 1, 0.2, 1.0)}


#: the kinds of hand-built networks and whether a group is silenced in each
HAND_KINDS = {"one group cut off": True, "noisy, undifferentiated": False,
              "functional split": False}


def hand_built(per_kind: int = 10, seed: int = 0) -> pd.DataFrame:
    """:func:`measures` of ``per_kind`` hand-built networks of each of :data:`HAND_KINDS`, with
    the truth ("silenced" by construction) and the rule's answer."""
    rng = np.random.default_rng(seed)
    nets = [(k, _network(rng, k)) for k in HAND_KINDS for _ in range(per_kind)]
    m = measures(*(np.stack([net[key] for _, net in nets])
                   for key in ("rate_sd", "target_corr", "w_out", "w_in")))
    m.insert(0, "kind", [k for k, _ in nets])
    m["truth"] = [HAND_KINDS[k] for k, _ in nets]
    m["silenced"] = silenced(m)
    return m


def confusion(table: pd.DataFrame) -> pd.DataFrame:
    """Networks by kind (rows) and the rule's answer (columns) of :func:`hand_built`."""
    return pd.crosstab(table["kind"], table["silenced"].map({True: "silenced",
                                                             False: "not silenced"}))


def calibration(run: pd.DataFrame, hand: pd.DataFrame, floor: str = "no_mi") -> pd.DataFrame:
    """Per measure: the rule's threshold (where it has one), the noise floor (the lowest ratio of
    the run's ``floor`` trials, none silenced), the highest ratio of the hand-built cut-off
    networks, the lowest of the hand-built networks without one, and the run's MI trials the
    rule finds silenced. ``run``: :func:`of_run`; ``hand``: :func:`hand_built`."""
    thresholds = {"|corr| ratio": SILENCED_CORR, "|W_out| ratio": SILENCED_WOUT}
    base = run[run["condition"] == floor]
    rows = []
    for m in MEASURES:
        cut = hand.loc[hand["truth"], m]
        other = hand.loc[~hand["truth"], m]
        rows.append({"measure": m, "threshold": thresholds.get(m, np.nan),
                     f"noise floor (lowest {floor})": float(base[m].min()) if len(base)
                     else np.nan,
                     "hand-built cut off (highest)": float(cut.max()),
                     "hand-built not cut off (lowest)": float(other.min())})
    return pd.DataFrame(rows).set_index("measure")


def explain(row: pd.Series) -> str:
    """Why the rule does or does not find a group silenced in one trial (a row of
    :func:`of_run` or of :func:`mifd.paper.wm.classify`), in one sentence."""
    c, o = float(row["|corr| ratio"]), float(row["|W_out| ratio"])
    marks = (f"|corr| ratio {c:.3f} ({'<' if c < SILENCED_CORR else '≥'} {SILENCED_CORR:g}), "
             f"|W_out| ratio {o:.3f} ({'<' if o < SILENCED_WOUT else '≥'} {SILENCED_WOUT:g})")
    same = row.get("low group (|corr|)") == row.get("low group (|W_out|)")
    if c < SILENCED_CORR and o < SILENCED_WOUT and same:
        return (f"group {int(row['low group (|corr|)'])} silenced: {marks}; its rate s.d. ratio "
                f"{float(row['rate sd ratio']):.3f} is read, not used")
    return f"no group silenced: {marks}" + ("" if same else "; the low groups differ")
