"""What travels to a GPU machine (mifd.gpu.tree): the committed results are left behind for the
call and put back afterwards, exactly; the session is planned here; the code side stays small."""

import subprocess
import pytest

from conftest import ROOT, env_with, fake_committed_shards, mifd_cmd
from mifd.gpu import session as gpu_session, tree as gpu_tree
from mifd.results import shards
from mifd.config import ConfigError


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    (r / "mifd").mkdir(parents=True)
    (r / "mifd" / "a.py").write_text("x" * 100)
    (r / "results" / "committed" / "wm" / "k").mkdir(parents=True)
    (r / "results" / "committed" / "wm" / "k" / "result.bin").write_bytes(b"0" * 1000)
    git(r, "init", "-q")
    git(r, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(r, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (r / ".git" / "info").mkdir(exist_ok=True)
    (r / ".git" / "info" / "exclude").write_bytes(b"# mine\r\n/.whl/")  # CRLF, no final newline
    return r


def test_the_committed_results_stay_behind_for_the_call_and_come_back_exactly(repo):
    exclude = repo / ".git" / "info" / "exclude"
    before = exclude.read_bytes()
    assert gpu_tree.travelling_bytes(repo) == 1100
    assert gpu_tree.hide_committed(repo) == 100
    assert gpu_tree.is_light(repo)
    assert git(repo, "ls-files").split() == ["mifd/a.py"]
    assert (repo / "results" / "committed" / "wm" / "k" / "result.bin").stat().st_size == 1000
    # nothing untracked shows: the files are ignored, their removal is staged only
    assert git(repo, "status", "--porcelain").splitlines() == \
        ["D  results/committed/wm/k/result.bin"]
    with pytest.raises(ConfigError, match="hidden already"):
        gpu_tree.hide_committed(repo)
    gpu_tree.restore_committed(repo)
    assert git(repo, "status", "--porcelain") == "" and exclude.read_bytes() == before
    assert not gpu_tree.is_light(repo) and gpu_tree.travelling_bytes(repo) == 1100
    gpu_tree.restore_committed(repo)  # not hidden: nothing happens
    assert git(repo, "status", "--porcelain") == ""


def test_hiding_is_refused_with_uncommitted_results_or_an_oversized_tree(repo, monkeypatch):
    exclude = repo / ".git" / "info" / "exclude"
    before = exclude.read_bytes()
    (repo / "results" / "committed" / "wm" / "k" / "result.bin").write_bytes(b"1" * 1000)
    with pytest.raises(ConfigError, match="uncommitted changes"):
        gpu_tree.hide_committed(repo)
    assert exclude.read_bytes() == before and "result.bin" in git(repo, "ls-files")
    git(repo, "checkout", "-q", "--", ".")
    monkeypatch.setattr(gpu_tree, "TRAVEL_LIMIT", 50)
    with pytest.raises(ConfigError, match="at most 50"):
        gpu_tree.hide_committed(repo)
    assert exclude.read_bytes() == before and git(repo, "status", "--porcelain") == ""


def test_a_commit_while_hidden_is_undone_in_the_index_with_a_warning(repo):
    gpu_tree.hide_committed(repo)
    (repo / "mifd" / "b.py").write_text("y")
    git(repo, "add", "mifd/b.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "oops")
    assert "results/committed" not in git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    with pytest.warns(UserWarning, match="HEAD moved"):
        gpu_tree.restore_committed(repo)
    # the files are staged again, ready to be committed back; nothing is lost on disk
    assert git(repo, "status", "--porcelain").splitlines() == \
        ["A  results/committed/wm/k/result.bin"]
    assert not gpu_tree.is_light(repo)


def test_this_checkout_without_its_committed_results_fits_one_gpu_call_with_room_to_spare():
    """The code, book and tests must leave room (a quarter of the limit) for carried wheels."""
    code = sum(f.stat().st_size for f in gpu_tree.travelling_files(ROOT)
               if not f.relative_to(ROOT).as_posix().startswith(gpu_tree.COMMITTED + "/"))
    assert code <= 0.75 * gpu_tree.TRAVEL_LIMIT, f"{code / 2 ** 20:.1f} MiB"


def test_the_session_is_planned_here_as_gpu_args(monkeypatch):
    fake = fake_committed_shards
    monkeypatch.setattr(shards, "committed_shards", fake({"fp32": 6}))
    assert gpu_session.plan_args() == ["--set", "seed=1007", "--set", "trials=14"]
    monkeypatch.setattr(shards, "committed_shards", fake({"fp32": 20, "tf32": 1}))
    assert gpu_session.plan_args() == ["--set", "sm_precision=tf32", "--set", "seed=1002",
                                       "--set", "trials=3"]
    monkeypatch.setattr(shards, "committed_shards", fake({"fp32": 20, "tf32": 4}))
    with pytest.raises(ConfigError, match="every trial of its 'paper' profile committed"):
        gpu_session.plan_args()
    assert gpu_session.plan_args(experiment="bimt", overrides={"sm_precision": "tf32"}) == \
        ["--experiment", "bimt", "--set", "sm_precision=tf32"]
    # the profile travels too, and a float keeps every digit (the config's key depends on it)
    args = gpu_session.plan_args("smoke", {"seed": 5, "lambda_mi": 0.00123456789}, "bimt")
    assert args == ["--experiment", "bimt", "--profile", "smoke", "--set", "seed=5",
                    "--set", "lambda_mi=0.00123456789"]
    import mifd
    from mifd.config import parse_set
    cfg = mifd.get_experiment("bimt").config("smoke", parse_set(args[5::2]))
    assert cfg.lambda_mi == 0.00123456789 and cfg.seed == 5


def test_a_bad_gpu_tree_action_is_refused_in_one_line():
    p = subprocess.run(mifd_cmd("gpu-tree", "heavy"), cwd=ROOT, capture_output=True, text=True,
                       env=env_with(MIFD_PROGRESS=0))
    assert p.returncode == 2 and "parameter 'action'" in p.stderr
    assert p.stderr.count("\n") == 1
