"""The two roles of the console and what each may do. Used by the data migration and by tests."""

from __future__ import annotations

OPERATORS = "operators"
MARKETERS = "marketers"

# (app_label, codename) pairs. Operators run the model's life; marketers browse what it wrote.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    OPERATORS: [
        ("products", "view_product"),
        ("products", "add_product"),
        ("products", "change_product"),
        ("products", "view_referencecreative"),
        ("products", "add_referencecreative"),
        ("products", "change_referencecreative"),
        ("products", "view_datasetversion"),
        ("training", "view_trainingrun"),
        # "Cancel run" in the admin.
        ("training", "change_trainingrun"),
        ("registry", "view_modelversion"),
        ("registry", "promote_modelversion"),
        ("registry", "rollback_modelversion"),
        ("registry", "reject_modelversion"),
        ("registry", "archive_modelversion"),
        ("registry", "override_gate_modelversion"),
        # "Evaluate and register" a training run started by hand (the same gate as the pipeline).
        ("registry", "register_modelversion"),
        ("registry", "view_registryevent"),
        # Champion vs challenger on live traffic.
        ("registry", "view_experiment"),
        ("registry", "start_experiment"),
        ("registry", "stop_experiment"),
        ("inference", "view_creative"),
        ("inference", "add_creative"),
        ("monitoring", "view_driftreport"),
        ("pipeline", "view_pipelinerun"),
        ("pipeline", "start_pipelinerun"),
        ("django_celery_beat", "view_periodictask"),
        ("django_celery_beat", "change_periodictask"),
        ("django_celery_beat", "view_crontabschedule"),
        ("django_celery_beat", "change_crontabschedule"),
        ("authtoken", "view_tokenproxy"),
        ("authtoken", "add_tokenproxy"),
        ("authtoken", "delete_tokenproxy"),
        # Login lockouts (django-axes): see them, and unlock an account by deleting its attempt.
        ("axes", "view_accessattempt"),
        ("axes", "delete_accessattempt"),
        ("axes", "view_accessfailurelog"),
    ],
    MARKETERS: [
        ("products", "view_product"),
        ("inference", "view_creative"),
        # "Regenerate" writes new creatives with the production model.
        ("inference", "add_creative"),
    ],
}


def sync_role_groups(apps) -> None:
    """Create the groups and give them exactly their permissions (idempotent; usable in migrations).

    In a migration, a permission of an app whose models are not in the migration state yet is left out;
    that app's own migration calls this again once they are (monitoring 0002 does).
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for group_name, pairs in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        permissions = [
            permission
            for app_label, codename in pairs
            if _has_models(apps, app_label)
            # None: its model is not in this migration's state yet (a later migration syncs again).
            if (permission := _permission(permission_model, app_label, codename)) is not None
        ]
        group.permissions.set(permissions)


def _permission(permission_model, app_label: str, codename: str):
    return permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()


def _has_models(apps, app_label: str) -> bool:
    try:
        return bool(list(apps.get_app_config(app_label).get_models()))
    except LookupError:
        return False
