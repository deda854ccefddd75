"""Replaying a pass without gradients from a captured CUDA graph (CUDA only).

A time loop of thousands of small kernels is bound by launching them one by one from Python.
A CUDA graph records the kernels of one call once and replays them with a single launch; the
replay runs the same kernels on the same addresses, so its results equal the eager call's bit
for bit (``tests/test_cuda.py``). The inputs are copied into the captured input tensors before
each replay; the model's weights are read where they live, which stays valid because the
optimizers update them in place.

One graph is captured per distinct set of input shapes. The outputs live in the graph's memory
and are overwritten by the next replay: use them before calling again.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..config import ConfigError


def check_graph_device(device: torch.device | str, name: str = "graph_sm_pass") -> None:
    """CUDA graphs exist on CUDA devices only."""
    kind = torch.device(device).type
    if kind != "cuda":
        raise ConfigError(f"parameter '{name}': got True on {kind}; allowed there: False "
                          "(CUDA graphs need a CUDA device)")


class GraphedPass:
    """``fn(data)`` (``data``: a dict of tensors or ``None``), replayed from a CUDA graph."""

    def __init__(self, fn: Callable[[dict], Any]):
        self.fn = fn
        self._graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, dict, Any]] = {}

    @staticmethod
    def _signature(data: dict) -> tuple:
        return tuple((k, None if v is None else (tuple(v.shape), v.dtype, str(v.device)))
                     for k, v in sorted(data.items()))

    def __call__(self, data: dict) -> Any:
        sig = self._signature(data)
        if sig not in self._graphs:
            self._graphs[sig] = self._capture(data)
        graph, inputs, out = self._graphs[sig]
        for k, v in data.items():
            if v is not None:
                inputs[k].copy_(v)
        graph.replay()
        return out

    def _capture(self, data: dict) -> tuple[torch.cuda.CUDAGraph, dict, Any]:
        check_graph_device(next(v for v in data.values() if v is not None).device)
        inputs = {k: None if v is None else v.clone() for k, v in data.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            self.fn(inputs)  # warm-up outside the graph: library workspaces, allocator pools
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            out = self.fn(inputs)
        return graph, inputs, out
