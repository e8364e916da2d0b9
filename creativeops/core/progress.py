"""The progress bars of the management commands (`train`, `run_pipeline`): one ETA per line.

tqdm's default line estimates the time left from how fast its counter moved. The services already
estimate it from the training itself (`TrainingRun.eta_seconds`, the figure the admin shows), and a
line with both showed two different ETAs. These bars leave tqdm's estimate (and rate) out: the only
ETA on the line is the service's, passed in with `eta_postfix`.
"""

from __future__ import annotations

from typing import IO

from tqdm import tqdm


def progress_bar(*, desc: str, file: IO[str], total: float | None = None, unit: str = "", **options) -> tqdm:
    """A tqdm bar showing percent, the bar, `n/total unit` (when `unit` is given), elapsed time and
    the postfix; never tqdm's own remaining-time estimate or rate."""
    counts = " {n_fmt}/{total_fmt} " + unit if unit else ""
    return tqdm(
        total=total,
        desc=desc,
        file=file,
        bar_format="{desc}: {percentage:3.0f}%|{bar}|" + counts + " [{elapsed}{postfix}]",
        **options,
    )


def eta_postfix(label: str, eta_seconds: float | None, *, eta_label: str = "ETA") -> str:
    """`label`, then the service's ETA when it has one: "epoch 2, ETA 42 s"."""
    return f"{label}, {eta_label} {eta_seconds:.0f} s" if eta_seconds is not None else label
