"""The post-hoc audit of the working-memory networks (``wm-audit``, a derived experiment): it
reads the stored ``wm`` run from the same store, keeps the critic of the best validation
estimate per trial, tests its held-out estimate by permutation, and is tied to wm's code."""

import numpy as np
import pytest
import torch

import mifd
from mifd.results import fingerprint
from mifd.experiments.wm_audit import EarlyStoppedAudit, WMAuditConfig
from mifd.mine import dv_estimate
from mifd.results.store import Store

AUDIT = {"steps": 6, "eval_every": 2, "permutations": 9}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MIFD_PROGRESS", "0")
    try:
        store = Store(tmp_path_factory.mktemp("audit-store"), [])
        rr = mifd.run("wm-audit", "smoke", "cpu", AUDIT, store=store, verbose=False)
        again = mifd.run("wm-audit", "smoke", "cpu", AUDIT, store=store, verbose=False)
    finally:
        mp.undo()
    return store, rr, again


def test_the_audit_reads_the_stored_wm_run_of_the_same_store(audited):
    store, rr, again = audited
    wm = mifd.run("wm", "smoke", "cpu", dict(zip(("conditions", "trials", "seed"),
                                                 rr.config.audited()[2].values())),
                  store=store, verbose=False, progress=False)
    assert wm.loaded  # trained once, by the audit, in the audit's store
    assert [p.name for p in (store.root / "wm").iterdir()] == [wm.key]
    assert rr.result["audited"]["key"] == wm.key
    assert rr.result["audited"]["code_hash"] == mifd.get_experiment("wm").code_hash()
    assert again.loaded and again.summary == rr.summary


def test_the_kept_critic_is_the_one_of_the_best_validation_estimate(audited):
    _, rr, _ = audited
    a = rr.result["audit"]
    val = np.asarray(a["val_dv"])  # (evaluations, trials)
    assert val.shape == (AUDIT["steps"] // AUDIT["eval_every"], 4)
    np.testing.assert_array_equal(a["best_val_dv"], val.max(0))
    np.testing.assert_array_equal(a["best_step"],
                                  AUDIT["eval_every"] * (1 + val.argmax(0)))
    assert (np.asarray(a["p_perm"]) >= 1 / (1 + AUDIT["permutations"])).all()
    np.testing.assert_allclose(
        a["p_perm"], (1 + (a["null_dv"] >= a["held_out_dv"]).sum(0)) / (1 + AUDIT["permutations"]))


def test_early_stopping_restores_the_best_critic_per_trial():
    """A critic whose validation estimate peaks at a step is restored to its parameters at that
    step, trial by trial (the others keep theirs)."""
    cfg = mifd.get_experiment("wm-audit").config("smoke", AUDIT)
    wm_cfg = mifd.get_experiment("wm").config("smoke", dict(zip(
        ("conditions", "trials", "seed"), cfg.audited()[2].values())))
    from mifd.experiments.wm import WMProblem
    prob = WMProblem(wm_cfg, wm_cfg.layout().seeds(), "cpu")
    trained = {"weights": {k: getattr(prob.model, k).detach().numpy()[None]
                           for k in ("W_rec", "W_in", "W_out", "b", "b_out")}}
    unit = EarlyStoppedAudit(cfg, wm_cfg, trained, "cpu")
    snapshots = {}
    for i in range(cfg.steps):
        unit.step(i)
        if (i + 1) % cfg.eval_every == 0:
            snapshots[i + 1] = [p.detach().clone() for p in unit.inner.critic.parameters()]
        if i + 1 == 4:  # spoil trial 0's critic after its evaluation at step 4
            with torch.no_grad():
                for p in unit.inner.critic.parameters():
                    p[0] += 3 * torch.randn(p[0].shape, generator=torch.Generator().manual_seed(0))
    res = unit.result()
    assert res["best_step"][0] == 4 and (res["best_step"][1:] == 6).all()
    for t, step in enumerate(res["best_step"]):
        for p, s in zip(unit.inner.critic.parameters(), snapshots[int(step)]):
            torch.testing.assert_close(p[t], s[t], rtol=0, atol=0)
    with torch.no_grad():
        again = dv_estimate(unit.inner.critic, *unit.inner.pools[1],
                            [torch.Generator().manual_seed(s + 5_200_001)
                             for s in cfg.layout().seeds()]).numpy()
    np.testing.assert_allclose(res["held_out_dv"], again, rtol=1e-6)


def test_a_dependent_test_pool_is_detected_and_an_independent_one_is_not():
    """The permutation test on hand-made pools: a critic that scores x·y separates y = x from its
    shuffles (p at its floor); on independent x, y the p-value is not at the floor."""
    from mifd.experiments.wm_audit import permutation_test

    class Dot(torch.nn.Module):
        def project(self, x, y):
            return x, y

        def from_projections(self, a, b):
            return (a * b).sum(-1)

        def forward(self, x, y):
            return self.from_projections(x, y)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2000, 3, generator=g)
    y = torch.stack([x[0], torch.randn(2000, 3, generator=g)])  # trial 0 dependent, 1 not
    held, null, p = permutation_test(Dot(), x, y, [torch.Generator().manual_seed(1)
                                                   for _ in range(2)], 19)
    assert null.shape == (19, 2)
    assert p[0] == pytest.approx(1 / 20) and held[0] > null[:, 0].max()
    assert p[1] > 1 / 20


def test_the_audit_code_hash_follows_the_wm_code():
    deps = fingerprint.computing_modules("mifd.experiments.wm_audit")
    assert "mifd.experiments.wm" in deps and "mifd.tasks.flipflop" in deps
    assert "mifd.results.runner" not in deps


def test_a_bad_audit_setting_is_refused_before_any_work():
    with pytest.raises(mifd.ConfigError, match="parameter 'profile'"):
        mifd.get_experiment("wm-audit").config("smoke", {"profile": "nope"})
    assert WMAuditConfig().audited()[:2] == ("wm", "paper")
