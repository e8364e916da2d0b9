"""Drift detection: live prediction inputs against the production model's training-data statistics.

A plain package of the project (no models, not a Django app): it composes inference (the prediction
log and the drift reports), registry (the production version) and the pipeline (the retraining it may
start), which no single app may import together.
"""
