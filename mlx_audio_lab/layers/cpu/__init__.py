"""CPU kernels: MLX's slow CPU cases rewritten (1-D convs as matmuls and shifted adds, one-row products on the
BLAS's GEMV); each takes the plain MLX op when the fast paths are off (`fast_math.set_fast_math`) or off the CPU."""
