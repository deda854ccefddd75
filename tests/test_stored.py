"""A page's lookup of long runs: loaded when the store holds them, named (never trained) when
it does not (``mifd.results.stored``)."""

from mifd.paper import variants
from mifd.results.runner import run
from mifd.results.store import Store
from mifd.results.stored import command, pending_line, stored_or_command, stored_runs


def test_a_run_not_in_the_store_is_named_and_nothing_is_trained(tmp_path):
    store = Store(tmp_path / "store", [tmp_path / "committed"])
    over = {"conditions": ("mi",), "seed": 5, "trials": 1}
    rr, cmd = stored_or_command("wm", "smoke", over, store)
    assert rr is None
    assert cmd == "mifd run wm --profile smoke --set conditions=mi --set seed=5 --set trials=1"
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.bin"))
    made = run("wm", "smoke", "cpu", over, store=store, verbose=False, progress=False)
    rr, cmd = stored_or_command("wm", "smoke", over, store)
    assert cmd == "" and rr.loaded and rr.key == made.key


def test_a_labelled_set_keeps_the_stored_and_names_the_rest_once_each(tmp_path):
    store = Store(tmp_path / "store", [tmp_path / "committed"])
    a = {"conditions": ("mi",), "seed": 7, "trials": 1}
    run("wm", "smoke", "cpu", a, store=store, verbose=False, progress=False)
    got, missing = stored_runs("wm", "smoke", {"a": a, "b": {**a, "seed": 8}}, store)
    assert list(got) == ["a"] and missing == [f"b: {command('wm', 'smoke', {**a, 'seed': 8})}"]
    line = pending_line(["second run: mifd run wm --set seed=8",
                         "second run: mifd run wm --set seed=9"], of=2, what="runs")
    assert line.count("second run") == 1 and "(1 of 2 runs)" in line and "--set" not in line
    assert pending_line([], of=2) == ""


def test_the_variants_page_without_training_names_every_missing_run(store_env):
    runs, missing = variants.run_variants("smoke", "cpu", train=False)
    assert runs == {} and len(missing) == len(variants.VARIANTS) + 1
    assert missing[0].startswith(variants.REFERENCE + ": mifd run wm --profile smoke")
    assert not store_env.exists() or not any(store_env.rglob("*.bin"))


def test_the_variants_page_with_its_reference_alone_says_so(store_env):
    base = variants.BASE.get("smoke", {})
    run("wm", "smoke", "cpu", base, verbose=False, progress=False)
    runs, missing = variants.run_variants("smoke", "cpu", train=False)
    assert list(runs) == [variants.REFERENCE] and len(missing) == len(variants.VARIANTS)
    assert variants.findings(runs).startswith("No variant is in the store yet")
    assert f"(all {len(variants.VARIANTS)} variants)" in variants.pending_line(missing)
