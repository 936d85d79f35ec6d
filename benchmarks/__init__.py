"""Benchmarks of lacecal_async: run one module, or `python -m benchmarks`."""
