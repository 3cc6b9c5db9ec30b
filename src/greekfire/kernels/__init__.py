"""Pure numerics on float64/int8 arrays (numpy + numba). Nothing here imports greekfire.

Every kernel compiles lazily on first call and caches its machine code on disk.
"""
