"""Do the modules stay? The persistence analysis on hand-built time courses."""

from types import SimpleNamespace

import numpy as np
import pytest

from mifd.experiments.base import Layout
from mifd.paper import persistence as P

EPOCHS = np.arange(0, 1001, 25)


def _run(curves, seed=1001, mi=None):
    """A stand-in run: ``curves`` (trials × snapshots) as every snapshot metric of the mi
    condition."""
    v = np.asarray(curves, dtype=float).T  # (snapshots, trials)
    T = v.shape[1]
    hist = np.full((1000, T), 0.5 if mi is None else mi, dtype=np.float32)
    res = {"snap_epochs": EPOCHS, "snaps": {m: v for m in P.METRICS},
           "hist": {"mi": hist, "sm_mi": hist}}
    return SimpleNamespace(result=res, layout=Layout(("mi",), T, seed))


RISE_STAY = np.minimum(EPOCHS / 300, 1) * 0.3
RISE_FALL = np.where(EPOCHS <= 300, EPOCHS / 300 * 0.3, 0.3 * (1 - (EPOCHS - 300) / 800))
NEVER = -0.01 * EPOCHS / 1000


def test_a_trial_keeps_its_modules_only_if_it_ends_near_its_peak():
    v = np.stack([RISE_STAY, RISE_FALL, NEVER], axis=1)
    assert P.kept(v).tolist() == [True, False, False]  # never-rising: nothing to keep
    assert RISE_FALL[-1] < P.KEEP * RISE_FALL.max()


def test_the_table_reads_each_epoch_and_counts_the_trials_that_keep():
    t = P.table({"a": _run([RISE_STAY, RISE_FALL])})
    row = t[t.metric == "Q_cor"].iloc[0]
    assert row["epoch 300"] == "0.300 ± 0.000"
    end = np.array([RISE_STAY[-1], RISE_FALL[-1]])
    assert row["epoch 1000"] == f"{end.mean():.3f} ± {end.std(ddof=1):.3f}"
    assert row["keep ≥ 75% of peak"] == "1/2" and row["median peak epoch"] == 300


def test_the_paired_test_pairs_by_seed_and_the_sentence_says_what_it_shows():
    rng = np.random.default_rng(0)
    base = [RISE_FALL + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    a = _run(base, seed=1001)
    # b: seeds 1006..1015, each 0.1 higher at the end than a's trial of the same seed
    b = _run([c + 0.1 * (EPOCHS / 1000) for c in base[5:]] + base[:5], seed=1006)
    t = P.paired(b, a)
    assert t["seeds"] == list(range(1006, 1011)) and t["n"] == 5
    assert t["mean difference"] == pytest.approx(0.1)
    text = P.sentence({"a": a, "b": b}, "a")
    assert "form and then fade" in text and "no difference shown at n = 5" in text
    # ten paired seeds with a clear shift: shown
    c = _run([x + 0.1 * (EPOCHS / 1000) for x in base], seed=1001)
    assert P.paired(c, a)["p"] < P.ALPHA
    assert "a difference shown" in P.sentence({"a": a, "c": c}, "a")
    # a setting that keeps its modules: not every setting fades
    assert "Not every setting" in P.sentence({"a": a, "s": _run([RISE_STAY] * 3)}, "a")


def test_the_figure_has_a_row_per_setting_and_labelled_axes():
    import matplotlib
    matplotlib.use("Agg")
    fig = P.figure({"a": _run([RISE_STAY, RISE_FALL]), "b": _run([RISE_FALL])},
                   paper_levels={"Q_cor": 0.299})
    axes = np.array(fig.axes).reshape(2, len(P.METRICS) + 1)
    assert all(ax.get_ylabel() for ax in axes.flat)
    assert all(ax.get_xlabel() == "epoch" for ax in axes[-1])
