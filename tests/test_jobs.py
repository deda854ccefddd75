"""mifd.results.jobs: long runs as background processes, each committed as it finishes."""

import os

import pytest

import mifd
from mifd.config import ConfigError
from mifd.results.jobs import Job, planned, run_jobs, select
from mifd.results.store import Store


class Broken(Job):
    """A job whose process fails (a profile the CLI refuses)."""

    def command(self):
        return ["run", "wm", "--profile", "fast"]


def test_jobs_run_side_by_side_and_each_is_committed_a_failure_counted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "store", [tmp_path / "committed"])
    tiny = (("conditions", ("mi",)), ("epochs", 2), ("audit_steps", 0))
    jobs = [Job("wm", "smoke", tiny + (("seed", 1001),), "a"),
            Job("wm", "smoke", tiny + (("seed", 1002),), "b"),
            Broken("wm", "smoke", tiny + (("seed", 1003),), "bad")]
    lines = []
    assert run_jobs(jobs, parallel=2, store=store, report=lines.append, poll=0.2) == 1
    for j in jobs[:2]:
        assert (tmp_path / "committed" / "wm" / j.key() / "meta.json").exists()
        rr = mifd.run("wm", "smoke", "cpu", dict(j.overrides), store=store, verbose=False)
        assert rr.loaded and rr.meta["machine"]["torch_threads"] == 1  # one thread each
    assert any(line.startswith("FAILED") and jobs[2].name() in line for line in lines)
    assert sum(line.startswith("committed") for line in lines) == 2


def test_a_bad_job_is_refused_before_any_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "store", [tmp_path / "committed"])
    jobs = [Job("wm", "smoke", (("epochs", 2),)), Job("wm", "smoke", (("sm_lr", -1.0),))]
    with pytest.raises(ConfigError, match="parameter 'sm_lr'"):
        run_jobs(jobs, store=store)
    assert not (tmp_path / "_build" / "jobs").exists()


def test_the_plan_lists_only_what_no_commit_holds(tmp_path):
    empty = Store(tmp_path / "s", [tmp_path / "c"])
    jobs = planned("book", store=empty)
    labels = {j.label for j in jobs}
    assert "default (ε inside √, two critic biases)" in labels \
        and "mechanism, ε outside √" in labels and "variant: step target" in labels
    assert all(j.profile == "book" for j in jobs)
    assert len({j.key() for j in jobs}) == len(jobs)  # a variant that is a screen setting: once
    assert select(jobs, "variant:") == [j for j in jobs if j.label.startswith("variant:")]
    assert select(jobs, None) == jobs and select(jobs, "no such run") == []
    assert select(jobs, None, "variant:") == [j for j in jobs if not j.label.startswith("variant:")]
    # the penalties as condition parts (all 20 conditions in one process ran out of memory):
    # every condition in exactly one part, none of more than four
    from mifd.experiments import get_experiment
    parts = [dict(j.overrides)["conditions"] for j in jobs if j.experiment == "penalties"]
    every = get_experiment("penalties").config("book").conditions
    assert len(parts) == 6 and max(map(len, parts)) <= 4
    assert sorted(c for p in parts for c in p) == sorted(every)
    # the committed 10-trial runs with one critic bias are not planned again
    assert not any(dict(j.overrides).get("critic_double_bias") is False and j.experiment == "wm"
                   for j in planned("book"))


def test_an_interrupted_process_stops_the_start_of_the_others():
    import subprocess
    import sys
    from mifd.results.jobs import run_processes
    started, lines = [], []

    def start(code):
        started.append(code)
        log = open(os.devnull, "w")
        return subprocess.Popen([sys.executable, "-c", f"import sys; sys.exit({code})"]), log, \
            f"item {code}"
    failed = run_processes([1, 130, 0, 0], 1, start, lambda item: None, lines.append, poll=0.05)
    assert started == [1, 130] and failed == 2
    assert any(line.startswith("FAILED    item 1") for line in lines)
    assert "stopping: 2 not started" in lines and any("INTERRUPTED item 130" in x for x in lines)


def test_condition_parts_run_at_most_one_per_core_and_not_when_the_run_is_stored(
        tmp_path, monkeypatch):
    """``mifd run --parts``: the parts of a run queue for the cores (six penalty parts of ≈ 4
    GB on two cores: two at a time), each with its conditions; a run the store holds, whole or
    in parts of any split, starts none."""
    from mifd.results import jobs, parts as P
    monkeypatch.chdir(tmp_path)  # the parts' logs
    alive, most, cmds = set(), [0], []

    class Proc:
        def __init__(self, cmd, **kw):
            cmds.append(cmd)
            self.polls, self.returncode = 0, None
            alive.add(self)
            most[0] = max(most[0], len(alive))

        def poll(self):
            self.polls += 1
            if self.polls >= 2:
                self.returncode = 0
                alive.discard(self)
            return self.returncode

    monkeypatch.setattr(jobs.subprocess, "Popen", Proc)
    monkeypatch.setattr(jobs.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(P, "finished", lambda *a, **k: False)
    lines = []
    assert jobs.run_parts("penalties", "book", "cpu", [], 6, refresh=True, report=lines.append,
                          poll=0) == 0
    split = P.split_conditions(mifd.get_experiment("penalties").config("book"), 6)
    assert len(cmds) == 6 and most[0] == 2
    for cmd, part in zip(cmds, split):
        assert f"conditions={','.join(part['conditions'])}" in cmd and "--refresh" in cmd
    assert sum(line.startswith("mifd: part ") for line in lines) == 6
    # stored: nothing starts (whatever the split asked for)
    cmds.clear()
    monkeypatch.setattr(P, "finished", lambda *a, **k: True)
    assert jobs.run_parts("penalties", "book", "cpu", [], 2, report=lines.append) == 0
    assert not cmds and lines[-1] == "mifd: penalties: the store holds this run: no part to run"
    with pytest.raises(ConfigError, match="parameter 'parts'"):  # refused before the store
        jobs.run_parts("penalties", "book", "cpu", [], 0)


def test_make_results_runs_the_penalties_in_the_parts_the_queue_plans():
    """``make results`` and ``mifd jobs`` split the penalties alike (their parts' keys match)."""
    import re
    from conftest import ROOT
    from mifd.results.jobs import PARTS
    found = re.search(r'"penalties (\d+)"', (ROOT / "Makefile").read_text())
    assert found and int(found.group(1)) == PARTS["penalties"]
