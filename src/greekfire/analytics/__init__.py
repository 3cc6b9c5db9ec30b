"""User-facing analytics: scalars, arrays or pandas in; kernels underneath."""
