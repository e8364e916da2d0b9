from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "creativeops.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
