"""The separation page's computed text on hand-built runs: the community figure's titles name
the matrix each NMI is found on (the figure's mean |corr| against the table's |mean corr|),
and the emergence section says what the run's training length can tell."""

from types import SimpleNamespace

import numpy as np
import pytest

import mifd
from mifd.paper import separation as S
from mifd.results.result import RunResult

N = 8


def _blocks(groups: np.ndarray, inside: float = 0.9, across: float = 0.1) -> np.ndarray:
    same = groups[:, None] == groups[None, :]
    C = np.where(same, inside, across)
    np.fill_diagonal(C, 1.0)
    return C


def _rr(nmi_matrix: str = "signed_mean") -> RunResult:
    """2 conditions × 2 trials of 8 units: trials 0, 1 (mi_l2) and 3 (no_mi) have |corr| blocks
    on the halves, trial 2 (no_mi) blocks on alternate units; the table's NMI per trial is
    planted apart from what the drawn matrices give."""
    halves = np.repeat([0, 1], N // 2)
    alternate = np.arange(N) % 2
    C = np.stack([_blocks(halves), _blocks(halves), _blocks(alternate), _blocks(halves)])
    final = {"abs_corr": C, "NMI": np.array([0.5, 0.25, 0.75, 1.0])}
    trials = {"mi_l2": {"NMI": [0.5, 0.25]}, "no_mi": {"NMI": [0.75, 1.0]}}
    cfg = SimpleNamespace(nmi_matrix=nmi_matrix, n_test=7, seed=0)
    result = {"final": final, "trials": trials, "conditions": ["mi_l2", "no_mi"]}
    return RunResult("separation", "smoke", cfg, "k", result, {}, {}, True)


def test_community_titles_give_the_drawn_matrix_nmi_and_the_table_s_for_the_same_trial():
    mats = S.communities(_rr(), {"mi_l2": 1, "no_mi": 2})
    assert list(mats) == ["mi_l2, trial 1\nNMI 1.00 (table's 0.25)",
                          "no_mi, trial 0\nNMI 0.00 (table's 0.75)"]  # index within condition
    # the matrix is reordered by its communities: alternate units come together
    M = mats["no_mi, trial 0\nNMI 0.00 (table's 0.75)"]
    assert M[: N // 2, : N // 2].min() == pytest.approx(0.9)
    note = S.communities_note(_rr())
    assert "the mean over the 7 test sequences of |corr|, the matrix drawn" in note
    assert "|mean over the test sequences of the signed corr| (nmi_matrix = signed_mean" in note
    assert note.endswith("the table gives the mean of the 2 trials' NMI.")


def test_with_the_table_s_matrix_drawn_the_title_gives_one_nmi():
    rr = _rr("abs_mean")
    assert list(S.communities(rr, {"no_mi": 3})) == ["no_mi, trial 1\nNMI 1.00"]
    assert "the matrix the table's NMI uses too (nmi_matrix = abs_mean)" in \
        S.communities_note(rr)


def test_the_emergence_section_says_what_the_training_length_can_tell():
    exp = mifd.get_experiment("separation")
    pub = exp.config("paper")
    same = S.emergence_scale(SimpleNamespace(config=pub))
    assert same == (f"This run trains the paper's {pub.mm_steps} MM steps at the published "
                    "settings: the table follows the measures over the published training.")
    short = S.emergence_scale(SimpleNamespace(config=exp.config("paper", {"mm_steps": 400})))
    assert short.startswith(f"The paper trains {pub.mm_steps} MM steps, this run 400: a shorter "
                            "run cannot tell whether the structural measures emerge late")
    reduced = S.emergence_scale(SimpleNamespace(config=exp.config("paper", {"length": 400})))
    assert reduced.startswith(f"This run trains the paper's {pub.mm_steps} MM steps, reduced in "
                              f"the rest: sequences of 400 steps (published {pub.length}), "
                              "the critic on")
    assert "shorter run" not in reduced and "MM steps (published" not in reduced


def test_the_function_point_puts_the_test_r2_beside_the_training_loss():
    from types import SimpleNamespace
    import numpy as np
    from mifd.experiments.base import Layout
    from mifd.paper import separation as S
    trials = {"mi_l2": {"NMI": [1.0, 0.9], "D_cor": [0.1, 0.1], "R2": [0.9, 0.8]},
              "no_mi": {"NMI": [0.0, 0.1], "D_cor": [0.0, 0.0], "R2": [0.6, 0.6]}}
    task = np.ones((100, 4))
    task[:, 2:] = 0.1  # no_mi fits its training batches better
    rr = SimpleNamespace(result={"trials": trials, "hist": {"task": task}},
                         layout=Layout(("mi_l2", "no_mi"), 2, 1))
    text = S._function_point(rr, "mi_l2", "no_mi")
    assert text.startswith("The groups separate functionally: community NMI 0.95 with MI + L2 "
                           "against 0.05 without MI")
    assert "R² is 0.85 against 0.60, and the training loss ends at 1 against 0.1: without MI" \
        in text and text.endswith("not a measure of the separation.")
    task[:, 2:] = 2.0  # no_mi fits worse too: no generalization caveat
    assert "generalization" not in S._function_point(rr, "mi_l2", "no_mi")
