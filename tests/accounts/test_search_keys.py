"""The queue's search keys are kept beside what they are made from: an
identity's name in searchable form, a phone channel's digits. save() keeps
them in step (also with update_fields), and the migration fills existing rows."""

import pytest
from django.db import connection

from accounts.identifiers import name_key, phone_key
from accounts.models import Identity, RecoveryChannel
from tests.factories import IdentityFactory, RecoveryChannelFactory
from tests.migration_db import migrate, scratch_database


@pytest.mark.parametrize("typed, key", [
    ("+44 20 7946 0000", "442079460000"), ("0044 (20) 7946-0000", "442079460000"),
    ("+44.20.7946.0000", "442079460000"), ("020 7946 0000", "02079460000"),
    ("＋４４ ２０ ７９４６ ００００", "442079460000"),  # fullwidth
    ("+٤٤ ٢٠ ٧٩٤٦ ٠٠٠٠", "442079460000"),  # Arabic-Indic digits
    ("+00 44", "0044"),  # after a "+", 00 is digits of the number
])
def test_a_phone_key_is_the_numbers_digits(typed, key):
    assert phone_key(typed) == key


def test_a_name_key_is_lower_case_with_single_spaces():
    assert name_key("  Ana   MARÍA  Ｗｉｄｅ ") == "ana maría wide"
    assert name_key("STRAẞE") == "straße"


@pytest.mark.django_db
def test_saving_keeps_the_search_keys_in_step():
    identity = IdentityFactory(display_name="Ana Smith")
    phone = RecoveryChannelFactory(identity=identity, kind="phone", address="+44 7700 900001")
    email = RecoveryChannelFactory(identity=identity, kind="email", address="a@example.org")
    assert (identity.name_key, phone.phone_key, email.phone_key) == (
        "ana smith", "447700900001", "")
    identity.display_name = "Ana JONES"
    identity.save(update_fields=["display_name"])
    phone.address = "+44 7700 900002"
    phone.save(update_fields=["address"])
    assert Identity.objects.get(pk=identity.pk).name_key == "ana jones"
    assert RecoveryChannel.objects.get(pk=phone.pk).phone_key == "447700900002"


BEFORE = [("accounts", "0009_identity_directory_source")]
AFTER = [("accounts", "0010_search_keys")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_search_keys_of_existing_rows(tmp_path):
    with scratch_database(tmp_path):
        apps = migrate(BEFORE)
        Identity = apps.get_model("accounts", "Identity")
        Channel = apps.get_model("accounts", "RecoveryChannel")
        ana = Identity.objects.create(directory_id="ana-1", directory_key="ana-1",
                                      display_name="Ana  Pérez")
        Channel.objects.create(identity=ana, kind="phone", address="+44 20 7946 0000")
        Channel.objects.create(identity=ana, kind="email", address="ana@example.org",
                               address_key="ana@example.org")
        apps = migrate(AFTER)
        assert apps.get_model("accounts", "Identity").objects.get(pk=ana.pk).name_key == \
            "ana pérez"
        keys = dict(apps.get_model("accounts", "RecoveryChannel").objects
                    .values_list("kind", "phone_key"))
        assert keys == {"phone": "442079460000", "email": ""}


def test_on_postgresql_part_of_a_name_can_be_found_through_a_trigram_index(on_postgres):
    IdentityFactory(display_name="Ana Rossi")
    names = Identity.objects.filter(name_key__contains="ross").values("pk")
    sql, params = names.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a table of one row: force the choice
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "identity_name_key_trgm" in plan
