"""Speed measurements, run as ``python -m benchmarks.NAME``; each prints ratios against a reference
measured side by side in the same process. Results are recorded in benchmarks/RESULTS.md."""
