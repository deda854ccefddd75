"""mifd.tasks.yang19: the 20 Yang et al. (2019) tasks from neurogym in one shared space."""

import sys

import numpy as np
import pytest

pytest.importorskip("neurogym")

from mifd.tasks import yang19 as Y  # noqa: E402

SPEC = Y.Yang19Spec()
QUIET = Y.Yang19Spec(sigma=0.0)   # no input noise: stimulus placement can be checked exactly


@pytest.fixture(autouse=True, scope="module")
def _fresh_caches():
    Y.clear_cache()
    yield
    Y.clear_cache()


@pytest.fixture(scope="module")
def per_task():
    return {t: Y.batch(QUIET, t, 12, 3) for t in Y.TASKS}


@pytest.fixture(scope="module")
def mixed():
    return Y.mixed_batch(SPEC, 64, 11)


def test_task_names_match_neurogym():
    from neurogym.envs.collections import get_collection
    assert [n.split(".")[1].split("-")[0] for n in get_collection("yang19")] == list(Y.TASKS)
    assert len(Y.TASKS) == 20


def test_shared_spaces():
    assert Y.n_inputs(SPEC) == 1 + 2 * 32 + 20 == 85
    assert Y.n_outputs(SPEC) == 33
    small = Y.Yang19Spec(dim_ring=16)
    assert (Y.n_inputs(small), Y.n_outputs(small)) == (53, 17)
    slots = Y.input_slots(SPEC)
    covered = np.concatenate([np.arange(85)[s] for s in slots.values()])
    assert np.array_equal(covered, np.arange(85))
    assert Y.output_slots(SPEC)["ring"] == slice(1, 33)


def test_shapes_and_rule(per_task):
    rule = Y.input_slots(QUIET)["rule"]
    for i, (task, b) in enumerate(per_task.items()):
        B, L, n_in = b["inputs"].shape
        assert (B, n_in) == (12, 85)
        assert b["targets"].shape == (B, L, 33) and b["mask"].shape == (B, L)
        assert b["inputs"].dtype == b["targets"].dtype == b["mask"].dtype == np.float32
        onehot = np.zeros(20, dtype=np.float32)
        onehot[i] = 1.0
        assert np.array_equal(b["inputs"][:, :, rule], np.broadcast_to(onehot, (B, L, 20))), task
        assert np.all(b["task"] == i)
        assert L == b["lengths"].max() and np.all(b["last"] == L - 1)   # start padding


def test_observations_land_in_the_right_ring(per_task):
    s = Y.input_slots(QUIET)
    for task, b in per_task.items():
        r1 = np.abs(b["inputs"][:, :, s["ring1"]]).sum(axis=(1, 2))
        r2 = np.abs(b["inputs"][:, :, s["ring2"]]).sum(axis=(1, 2))
        for k, ring in enumerate(b["ring"]):
            if ring == 0:
                assert r1[k] > 0 and r2[k] == 0, (task, k)
            elif ring == 1:
                assert r1[k] == 0 and r2[k] > 0, (task, k)
            else:
                assert task.startswith(("ctx", "multi")) and r1[k] > 0 and r2[k] > 0, (task, k)
        if task in ("go", "dms"):
            assert set(b["ring"]) == {0, 1}     # modality drawn per trial
        fix = b["inputs"][:, :, 0]
        assert np.all(fix[:, 0] == 1.0) and np.all(fix[b["response"]] == 0.0), task


def test_targets_and_mask(per_task):
    theta = Y.preferred_directions(32)
    for task, b in per_task.items():
        y, m, resp = b["targets"], b["mask"], b["response"]
        assert np.allclose(y[~resp, 0], 0.8) and np.allclose(y[~resp, 1:], 0.05)
        for k in range(len(y)):
            r = resp[k]
            if b["should_fix"][k]:
                assert b["direction"][k] == -1 and np.allclose(y[k, r, 0], 0.8)
                assert np.allclose(y[k, r, 1:], 0.05)
            else:
                assert np.allclose(y[k, r, 0], 0.05)
                peak = y[k, r, 1:].argmax(axis=-1)
                assert np.allclose(theta[peak], b["direction"][k])
                assert np.allclose(y[k, r, 1:].max(-1), 0.85)
            rs = b["response_start"][k]
            assert r[rs] and not r[rs - 1]
            assert np.all(m[k, :5] == 0) and np.all(m[k, 5:rs] == 1)          # skip 100 ms
            assert np.all(m[k, rs:rs + 5] == 0) and np.all(m[k, rs + 5:] == 5)  # grace 100 ms
    assert per_task["dnms"]["should_fix"].any() and not per_task["go"]["should_fix"].any()


def test_dm1_unused_ring_holds_only_neurogym_noise():
    b = Y.batch(SPEC, "dm1", 16, 0)
    ring2 = b["inputs"][:, :, Y.input_slots(SPEC)["ring2"]]
    assert np.all(b["ring"] == 0) and np.abs(ring2).max() > 0 and abs(ring2.mean()) < 0.01


def test_same_seed_same_batch():
    a = Y.batch(SPEC, "ctxdm1", 16, 7)
    Y.batch(SPEC, "ctxdm1", 5, 99)                  # the envs' state in between does not matter
    b = Y.batch(SPEC, "ctxdm1", 16, np.random.default_rng(7))
    c = Y.batch(SPEC, "ctxdm1", 16, 8)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)
    m1, m2 = Y.mixed_batch(SPEC, 32, 5), Y.mixed_batch(SPEC, 32, 5)
    assert all(np.array_equal(m1[k], m2[k]) for k in m1)


def test_mixed_batch(mixed):
    assert len(np.unique(mixed["task"])) > 10
    one = Y.mixed_batch(SPEC, 8, 3, per="batch")
    assert len(np.unique(one["task"])) == 1
    sub = Y.mixed_batch(SPEC, 16, 3, tasks=("go", "dms"))
    assert set(Y.TASKS[t] for t in sub["task"]) <= {"go", "dms"}


def test_perfect_output_scores_correct(mixed):
    import torch
    for criterion in Y.CRITERIA:
        assert Y.performance(mixed["targets"], mixed, criterion=criterion).all()
    assert Y.performance(torch.from_numpy(mixed["targets"]), Y.to_torch(mixed)).all()
    end = Y.mixed_batch(Y.Yang19Spec(pad="end"), 32, 4)
    assert Y.performance(end["targets"], end).all()


def test_wrong_outputs_score_incorrect(mixed):
    y0 = mixed["targets"]
    broke = y0.copy()
    k = np.arange(len(y0))
    early = mixed["response_start"] - 1                  # last step before the response
    broke[k, early, 0] = 0.0
    assert not Y.performance(broke, mixed).any()                  # strict: fixation broken
    assert Y.performance(broke, mixed, criterion="last").all()    # Yang et al.'s code: end only
    rotated = y0.copy()
    rotated[..., 1:] = np.roll(y0[..., 1:], 16, axis=-1)           # answer the opposite direction
    fix = mixed["should_fix"]
    assert np.array_equal(Y.performance(rotated, mixed), fix)
    stay = y0.copy()
    stay[k, mixed["last"], 0] = 0.9                      # keeps fixating when it should answer
    assert np.array_equal(Y.performance(stay, mixed), fix)
    go = y0.copy()
    go[k, mixed["last"], 0] = 0.1                        # answers when it should keep fixating
    assert np.array_equal(Y.performance(go, mixed), ~fix)


def test_pad_end_and_yang_fixation_input():
    b = Y.mixed_batch(Y.Yang19Spec(pad="end", fix_input="yang"), 24, 2)
    assert np.array_equal(b["valid"].sum(axis=1), b["lengths"])
    assert np.all(b["mask"][~b["valid"]] == 0) and np.all(b["inputs"][~b["valid"]] == 0)
    pre = b["valid"] & ~b["response"]
    assert np.all(b["inputs"][..., 0][pre] == 1.0)
    assert np.all(b["last"] == b["lengths"] - 1)
    w = Y.loss_weights(b)
    assert w.shape == b["targets"].shape and np.allclose(w[..., 0], 2 * b["mask"])


def test_trial_pool():
    spec = Y.Yang19Spec(cache_size=8)
    a = Y.batch(spec, "dlygo", 20, 1)
    b = Y.batch(spec, "dlygo", 20, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len({x.tobytes() for x in a["inputs"]}) <= 8            # drawn from 8 pooled trials
    refreshed = Y.Yang19Spec(cache_size=8, cache_refresh=1.0, cache_seed=5)
    c = Y.batch(refreshed, "dlygo", 20, 1)
    d = Y.batch(refreshed, "dlygo", 20, 1)            # the pool changed in between
    assert not all(np.array_equal(c[k], d[k]) for k in c)


@pytest.mark.parametrize("call, name", [
    (lambda: Y.batch(Y.Yang19Spec(dim_ring=15), "go", 4, 0), "dim_ring"),
    (lambda: Y.batch(Y.Yang19Spec(dt=30), "go", 4, 0), "dt"),
    (lambda: Y.batch(Y.Yang19Spec(sigma=-1.0), "go", 4, 0), "sigma"),
    (lambda: Y.batch(Y.Yang19Spec(pad="middle"), "go", 4, 0), "pad"),
    (lambda: Y.batch(Y.Yang19Spec(fix_input="x"), "go", 4, 0), "fix_input"),
    (lambda: Y.batch(Y.Yang19Spec(cache_size=-1), "go", 4, 0), "cache_size"),
    (lambda: Y.batch(Y.Yang19Spec(cache_refresh=2.0), "go", 4, 0), "cache_refresh"),
    (lambda: Y.batch(Y.Yang19Spec(response_weight=float("nan")), "go", 4, 0), "response_weight"),
    (lambda: Y.batch(SPEC, "gogo", 4, 0), "task"),
    (lambda: Y.batch(SPEC, "go", 0, 0), "batch_size"),
    (lambda: Y.batch(SPEC, "go", 4, "seed"), "rng"),
    (lambda: Y.mixed_batch(SPEC, 4, 0, per="epoch"), "per"),
    (lambda: Y.mixed_batch(SPEC, 4, 0, tasks=()), "tasks"),
    (lambda: Y.performance(np.zeros((1, 2, 3)), Y.batch(SPEC, "go", 2, 0)), "outputs"),
    (lambda: Y.performance(np.zeros((1, 2, 3)), {}, criterion="best"), "criterion"),
])
def test_bad_parameters_refused_in_one_line(call, name):
    with pytest.raises(ValueError) as e:
        call()
    msg = str(e.value)
    assert msg.startswith(f"parameter '{name}': got ") and "; allowed: " in msg and "\n" not in msg


def test_missing_neurogym_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym.envs.collections", None)
    with pytest.raises(ImportError, match="pip install") as e:
        Y.batch(Y.Yang19Spec(dim_ring=6), "go", 1, 0)
    assert isinstance(e.value, Y.NeurogymMissingError) and "\n" not in str(e.value)
