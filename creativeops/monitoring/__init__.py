"""Drift monitoring, one Django app: live prediction inputs against the production model's training data.

Everything about drift lives here: the `DriftReport` model, its admin, the hourly task and its beat
entry (`schedule.py`), the `drift_report` command, the PSI comparison (`drift.py`) and the Prometheus
gauges of the latest report (`metrics.py`). The feature statistics themselves (buckets, shares,
quantiles) are `products.dataset_stats`: the snapshot computes the baseline with them and the check
computes the live side with the very same functions. It sits above the apps (composition): it reads
inference's prediction log and registry's production version, and may start the pipeline.
"""
