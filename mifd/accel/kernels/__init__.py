"""GPU kernels (Triton), each tested equal to its reference implementation."""
