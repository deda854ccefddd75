"""Speed: the fused BPTT, the Triton GRU kernels, CUDA graphs and the GPU allocator; each fast
path is tested equal to its reference."""
