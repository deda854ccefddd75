"""Widgets driven programmatically: changing a control redraws a different figure."""

import io

import pytest

import mifd
from mifd.pages import widgets


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@pytest.mark.parametrize("experiment", ["wm", "separation"])
def test_run_explorer_follows_its_controls(store_env, experiment):
    rr = mifd.run(experiment, "smoke", "cpu", {"trials": 2}, verbose=False)
    box = widgets.run_explorer(rr.result)
    first = _png(box.figures[-1])
    box.snap.value = 0
    assert len(box.figures) == 2 and _png(box.figures[-1]) != first
    assert box.children[-1].outputs[0]["data"]["image/png"]  # the widget shows it
    box.trial.value = 1
    assert len(box.figures) == 3 and _png(box.figures[-1]) != _png(box.figures[-2])
    box.condition.value = box.condition.options[1]
    assert len(box.figures) == 4 and _png(box.figures[-1]) != _png(box.figures[-2])


def test_explorer_rejects_a_bad_condition_or_trial(store_env):
    rr = mifd.run("wm", "smoke", "cpu", verbose=False)
    with pytest.raises(ValueError, match="parameter 'condition': got 'x'"):
        widgets.explorer_figure(rr.result, "x", 0, 0)
    with pytest.raises(ValueError, match="parameter 'trial': got 9"):
        widgets.explorer_figure(rr.result, "mi", 9, 0)


def test_trainer_panel_trains_what_its_controls_say(store_env):
    box = widgets.trainer_panel()
    box.lambda_mi.value, box.epochs.value, box.seed.value = 0.2, 10, 7
    box.train()
    assert len(box.figures) == 1
    rr = widgets.train_small(0.2, box.l2.value, 10, 7, progress=False)
    assert rr.loaded and rr.config.lambda_mi == 0.2 and rr.config.epochs == 10
    box.seed.value = 8
    box.train()
    assert len(box.figures) == 2 and _png(box.figures[-1]) != _png(box.figures[-2])


def test_quick_estimate_is_close_for_a_gaussian_and_rejects_bad_values():
    r = widgets.quick_estimate(rho=0.6, dim=2, batch=256, steps=10, seed=1)
    assert abs(r["Gaussian"] - r["true"]) < 0.15
    with pytest.raises(ValueError, match="parameter 'rho': got 1.5"):
        widgets.quick_estimate(rho=1.5)


def test_panels_fill_rows_that_fit_the_text_column():
    import matplotlib
    matplotlib.use("Agg")
    from mifd.pages import plotting
    for n, w, per_row in ((5, 2.6, 3), (4, 3.8, 2), (2, 3.9, 2), (1, 9.0, 1), (3, 2.8, 2)):
        fig, axes = plotting.panels(n, w, 2.0)
        assert len(axes) == len(fig.axes) == n
        width, height = fig.get_size_inches()
        assert width <= plotting.MAX_WIDTH + 1e-9
        assert height == pytest.approx(2.0 * -(-n // per_row)), (n, w)
        # every panel at least MIN_PANEL wide on the page (100 dpi, shown unscaled)
        assert min(a.get_position().width for a in axes) * width >= \
            plotting.MIN_PANEL * 0.6, (n, w)
        plotting.plt.close(fig)
    with pytest.raises(ValueError, match="parameter 'width'"):
        plotting.panels(20, plotting.MIN_PANEL - 0.1, 1.0)


def test_the_legend_goes_into_the_empty_cell_of_the_grid_and_covers_no_panel():
    import matplotlib
    matplotlib.use("Agg")
    from mifd.pages import plotting
    fig, axes = plotting.panels(3, 3.2, 2.0)  # two per row: the fourth cell is empty
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a")
    plotting.legend_in_empty_cell(fig, axes)
    assert axes[0].get_legend() is None and len(fig.legends) == 1
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in axes)
    fig, axes = plotting.panels(2, 3.2, 2.0)  # a full grid: the legend in the first panel
    axes[0].plot([0, 1], [0, 1], label="a")
    plotting.legend_in_empty_cell(fig, axes)
    assert axes[0].get_legend() is not None and not fig.legends


def test_an_extra_condition_gets_a_colour_of_its_own():
    from mifd.pages import plotting
    base = set(plotting.COND_COLORS.values())
    extra = [plotting.cond_color(c) for c in ("mi_l2=0.001", "mi_l2=0.0001")]
    assert len(set(extra)) == 2 and not set(extra) & base
    assert plotting.cond_color("mi_l2=0.001") == extra[0]  # stable
    assert plotting.cond_color("no_mi") == plotting.COND_COLORS["no_mi"]
