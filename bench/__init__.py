"""perkflow's benchmarks (reference figures and bars: docs/benchmarks.md). Run with ``make bench``."""
