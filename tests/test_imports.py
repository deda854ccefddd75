"""The library's modules import each other without a cycle (every import, at module level or
inside a function), checked on the source with networkx (mifd.results.fingerprint.import_graph)."""

import networkx as nx

from mifd.results.fingerprint import import_graph


def test_the_import_graph_finds_real_edges():
    g = import_graph()
    assert g.has_edge("mifd.results.runner", "mifd.experiments")
    assert g.has_edge("mifd.paper.claims", "mifd.paper.rules")
    assert g.has_edge("mifd.experiments.wm", "mifd.experiments.base")
    assert g.has_edge("mifd.perf.measure", "mifd.perf.harness")
    assert not g.has_edge("mifd.experiments", "mifd.results.runner")


def test_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, cycles[:5]
