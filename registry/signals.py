"""What the registry announces to the apps above it, which it may not import.

`production_changed(name=...)` is sent once a promotion or rollback has committed, by the one service
path every interface goes through (never from `save()`), so no bulk update can skip it. Inference
listens and refreshes the catalog's creatives at once instead of waiting for the next beat check.
"""

from django.dispatch import Signal

production_changed = Signal()
