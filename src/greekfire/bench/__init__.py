"""The benchmark suite behind ``greekfire bench`` and its report."""
