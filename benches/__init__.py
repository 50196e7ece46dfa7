"""Side-by-side benchmarks of AutoStore against the tools users would pick instead.

``python -m benches`` (or ``make bench``) starts one local S3 server, runs every workload through
AutoStore and each alternative, interleaved round by round, and writes a markdown table, a JSON dump
and a bar chart of the ratios to ``benches/results/``.

This package is imported by the benchmark's child processes too, some of them in a virtualenv holding
the original pure-Python ``autostore`` (which has the same import name), so nothing here may import
the library at module level.
"""
