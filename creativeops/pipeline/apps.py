from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "creativeops.pipeline"
    label = "pipeline"
    verbose_name = "Pipeline"
