"""The Celery application. Tasks live in each app's tasks.py; queues are named in creativeops.queues."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creativeops.settings")

app = Celery("creativeops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Not an app (no models), so listed by name: the drift check.
app.autodiscover_tasks(["creativeops.monitoring"])
