"""Widgets driven programmatically: changing a control redraws a different figure."""

import io


import mifd
from mifd import widgets


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_run_explorer_follows_its_sliders(store_env):
    rr = mifd.run("wm", "smoke", "cpu", verbose=False)
    box = widgets.run_explorer(rr.result)
    first = _png(box.figures[-1])
    box.snap.value = 0
    assert len(box.figures) == 2 and _png(box.figures[-1]) != first
    box.trial.value = 1
    assert len(box.figures) == 3 and _png(box.figures[-1]) != _png(box.figures[-2])


def test_quick_estimate_is_close_for_a_gaussian_and_rejects_bad_values():
    r = widgets.quick_estimate(rho=0.6, dim=2, batch=256, steps=10, seed=1)
    assert abs(r["Gaussian"] - r["true"]) < 0.15
    try:
        widgets.quick_estimate(rho=1.5)
    except ValueError as e:
        assert "parameter 'rho': got 1.5" in str(e)
    else:
        raise AssertionError("rho=1.5 accepted")
