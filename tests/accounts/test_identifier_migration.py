"""Existing identities get their canonical keys from the migration; two
directory ids with one canonical form stop it, both named, for a person to
resolve (on PostgreSQL in CI, SQLite otherwise)."""

import pytest

from tests.migration_db import migrate, scratch_database

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("accounts", "0005_sessions_valid_after")]
AFTER = [("accounts", "0007_identifier_keys_unique")]


@pytest.fixture
def old_schema(tmp_path):
    with scratch_database(tmp_path):
        yield migrate(BEFORE)


def test_the_migration_fills_the_canonical_keys_of_existing_rows(old_schema):
    User = old_schema.get_model("accounts", "User")
    Identity = old_schema.get_model("accounts", "Identity")
    RecoveryChannel = old_schema.get_model("accounts", "RecoveryChannel")
    user = User.objects.create(username="ana", email="Ana@Example.ORG", passkey_handle="h1")
    ana = Identity.objects.create(directory_id="ＡＮＡ-1", display_name="Ana", user=user)
    RecoveryChannel.objects.create(identity=ana, kind="email", address="ANA@home.example")
    RecoveryChannel.objects.create(identity=ana, kind="phone", address="+44 20 7946 0000")

    apps = migrate(AFTER)
    assert apps.get_model("accounts", "Identity").objects.get(pk=ana.pk).directory_key == "ana-1"
    assert apps.get_model("accounts", "User").objects.get(pk=user.pk).email_key == \
        "ana@example.org"
    keys = dict(apps.get_model("accounts", "RecoveryChannel").objects
                .values_list("kind", "address_key"))
    assert keys == {"email": "ana@home.example", "phone": ""}


def test_two_directory_ids_with_one_canonical_form_stop_the_migration_naming_both(old_schema):
    Identity = old_schema.get_model("accounts", "Identity")
    Identity.objects.create(directory_id="ana-1", display_name="Ana")
    clash = Identity.objects.create(directory_id="ANA-1", display_name="Another Ana")
    with pytest.raises(RuntimeError, match="'ana-1' and 'ANA-1' are one identifier"):
        migrate(AFTER)
    clash.delete()  # a person renames or removes one; then the migration goes through
