from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

TEST_PASSWORD = "correct-horse-battery-staple-42"  # noqa: S105 - test accounts only


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)


def make_user(username: str, *, groups: list[str] = (), is_staff: bool = True, is_superuser: bool = False):
    """A user in the given role groups (created by migration), able to log in with TEST_PASSWORD."""
    user = UserFactory(username=username, is_staff=is_staff, is_superuser=is_superuser)
    if groups and Group.objects.filter(name__in=groups).count() < len(groups):
        # A transactional test before this one emptied the tables the roles migration filled.
        from django.apps import apps

        from creativeops.core.roles import sync_role_groups

        sync_role_groups(apps)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user
