"""What the benchmark modules and ``report.py`` share: workloads, contender adapters and loading."""
