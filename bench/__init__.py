"""Parley's benchmark: load generator, naive reference server, PostgreSQL ceiling, runner.

Run the whole comparison with `python -m bench.run --rounds 3`; see docs/performance.md.
Nothing here is part of the product.
"""
