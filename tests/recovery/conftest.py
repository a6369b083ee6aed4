from importlib import import_module

import pytest


@pytest.fixture
def recovery_reference_data():
    """Transactional tests flush the database after each test (and other
    transactional tests may have run before): put back what migrations
    seed, whatever ran first."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.management import create_contenttypes

    from accounts.roles import Role

    for name in ("accounts", "recovery"):
        create_contenttypes(apps.get_app_config(name), verbosity=0)
        create_permissions(apps.get_app_config(name), verbosity=0)
    for role in Role:
        Group.objects.get_or_create(name=role)
    import_module("recovery_console.migrations.0003_default_policies").seed(apps, None)
