"""Framework kernels behind losskit's public functions (each imports its framework; private)."""
