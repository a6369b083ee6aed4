"""Identifiers name an identity by equality of one canonical form, the same
on PostgreSQL and SQLite (this module runs on both; CI runs it on
PostgreSQL, where ``UPPER()`` used to equate dotless ı with i). Look-alike
letters name nobody; case, width and compatibility forms of the same letters
do; invisible and control characters are refused at every input."""

import pytest
from auditlog.models import LogEntry
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from accounts.identifiers import canonical
from accounts.models import Identity, RecoveryChannel, User
from recovery_console.models import RecoveryCase, SelfServiceRequest
from tests.factories import IdentityFactory, RecoveryChannelFactory, reachable_identity, staff
from tests.recovery.support import refusals, resolve_self_service_requests
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
REQUEST = reverse("recovery:self_service")

# (what the person types, the identifier on file, does it name that identity?)
LOOK_ALIKES = [
    ("tım@example.org", "tim@example.org"),  # dotless ı is not i
    ("TİM@example.org", "tim@example.org"),  # İ is i with a dot above, not I
    ("аna@example.org", "ana@example.org"),  # Cyrillic а is not Latin a
    ("straße@example.org", "strasse@example.org"),  # ß is not ss
    ("STRAẞE@example.org", "strasse@example.org"),  # nor is capital ẞ
    ("ıd-4711", "id-4711"),
    ("İD-4711", "id-4711"),
    ("іd-4711", "id-4711"),  # Cyrillic і
]
EQUIVALENTS = [
    ("TIM@Example.ORG", "tim@example.org"),  # letter case
    ("tim@example.org", "Tim@Example.org"),
    ("ｆｕｌｌｗｉｄｔｈ@example.org", "fullwidth@example.org"),  # width
    ("\u212aim@example.org", "kim@example.org"),  # the Kelvin sign is K (Unicode: same letter)
    ("ſam@example.org", "sam@example.org"),  # long s is s (compatibility form)
    ("STRAẞE@example.org", "straße@example.org"),  # ẞ is the capital of ß
    ("ID-4711", "id-4711"),
    ("ＩＤ－４７１１", "id-4711"),
]
WHERE = ["directory_id", "user_email", "email_channel"]


def identity_named(where: str, on_file: str) -> Identity:
    if where == "directory_id":
        return reachable_identity(directory_id=on_file)
    if where == "user_email":
        return reachable_identity(user__email=on_file)
    identity = reachable_identity()
    channel = identity.channels.get(kind="email")
    channel.address = on_file
    channel.save()
    return identity


def ask(identifier: str, client: Client | None = None):
    response = (client or Client()).post(REQUEST, {"identifier": identifier})
    resolve_self_service_requests()  # what the worker does next
    return response


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("typed", "on_file"), LOOK_ALIKES)
def test_a_look_alike_identifier_opens_no_case_for_the_account_it_imitates(where, typed, on_file):
    identity = identity_named(where, on_file)
    response = ask(typed)
    assert response.status_code == 200
    assert not RecoveryCase.objects.filter(identity=identity).exists()
    assert refusals("case_open", "unknown_account").count() == 1


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("typed", "on_file"), EQUIVALENTS)
def test_the_same_identifier_in_another_case_or_width_opens_the_case(where, typed, on_file):
    identity = identity_named(where, on_file)
    response = ask(typed)
    assert response.status_code == 200
    assert RecoveryCase.objects.filter(identity=identity, source="self_service").count() == 1
    assert not refusals("case_open").exists()


def test_a_revoked_email_channel_names_nobody():
    identity = identity_named("email_channel", "old@example.org")
    RecoveryChannel.objects.filter(identity=identity, kind="email").update(
        revoked_at="2026-01-01T00:00:00Z")
    ask("old@example.org")
    assert not RecoveryCase.objects.exists()
    assert refusals("case_open", "unknown_account").exists()


def test_an_email_on_file_for_two_identities_opens_no_case_for_either():
    first = identity_named("email_channel", "team@example.org")
    second = identity_named("user_email", "TEAM@example.org")
    assert ask("team@example.org").status_code == 200
    assert not RecoveryCase.objects.filter(identity__in=[first, second]).exists()
    assert refusals("case_open", "ambiguous_account").count() == 1


INVISIBLE = {
    "\u200d": "U+200D zero width joiner",
    "\u200c": "U+200C zero width non-joiner",
    "\u200b": "U+200B zero width space",
    "\u2060": "U+2060 word joiner",
    "\ufeff": "U+FEFF zero width no-break space",  # the byte-order mark
    "\u00ad": "U+00AD soft hyphen",
    "\u202e": "U+202E right-to-left override",
    "\u2028": "U+2028 line separator",
    "\x1b": "U+001B",
    "\x85": "U+0085",
    "\r": "U+000D",
    "\ufe0f": "U+FE0F variation selector-16",
    "\u3164": "U+3164 hangul filler",
}


@pytest.mark.parametrize(("character", "named"), INVISIBLE.items())
def test_self_service_refuses_an_identifier_with_an_invisible_or_control_character(
        character, named):
    identity_named("email_channel", "ana@example.org")
    response = ask(f"an{character}a@example.org")
    assert response.status_code == 400
    page = response.content.decode()
    assert f"Remove the invisible or control character ({named}" in page
    assert "position 3" in page
    assert not SelfServiceRequest.objects.exists()
    assert not RecoveryCase.objects.exists()
    assert not LogEntry.objects.filter(additional_data__event__startswith="case_open").exists()


def test_plain_spaces_around_an_identifier_are_ignored():
    identity = identity_named("email_channel", "ana@example.org")
    assert ask("  ana@example.org ").status_code == 200
    assert RecoveryCase.objects.filter(identity=identity).exists()


def test_the_desk_finds_a_person_by_directory_id_in_any_case_and_refuses_look_alikes(agent):
    identity = reachable_identity(directory_id="id-4711")
    desk = sign_in_client(Client(), agent)
    look_alike = desk.post(reverse("recovery:open_case"), {"directory_id": "ıd-4711"})
    assert look_alike.status_code == 400
    assert "No identity has this directory id." in look_alike.content.decode()
    invisible = desk.post(reverse("recovery:open_case"), {"directory_id": "id-\u200b4711"})
    assert invisible.status_code == 400
    assert "U+200B zero width space" in invisible.content.decode()
    assert not RecoveryCase.objects.exists()
    found = desk.post(reverse("recovery:open_case"), {"directory_id": "ID-4711"})
    assert found.status_code == 302
    assert RecoveryCase.objects.get().identity == identity


# --- stored in one form, unique --------------------------------------------

def test_two_directory_ids_differing_only_in_case_or_width_cannot_both_exist():
    IdentityFactory(directory_id="ana-1")
    for clash in ("ANA-1", "ａｎａ-1"):
        with pytest.raises(IntegrityError), transaction.atomic():
            IdentityFactory(directory_id=clash)
    IdentityFactory(directory_id="аna-1")  # Cyrillic а: another identifier
    assert Identity.objects.count() == 2


def test_changing_an_identifier_keeps_its_canonical_form_in_step():
    identity = reachable_identity(directory_id="old-1", user__email="Old@Example.org")
    identity.directory_id = "New-ＩＤ"
    identity.save(update_fields=["directory_id"])
    identity.user.email = "Ｎew@example.org"
    identity.user.save(update_fields=["email"])
    channel = identity.channels.get(kind="email")
    channel.address = "Third@Example.ORG"
    channel.save(update_fields=["address"])
    assert Identity.objects.filter(directory_key="new-id").exists()
    assert User.objects.filter(email_key="new@example.org").exists()
    assert RecoveryChannel.objects.filter(address_key="third@example.org").exists()
    assert not RecoveryChannel.objects.filter(kind="phone").exclude(address_key="").exists()


@pytest.fixture
def admin_client():
    boss = staff("security_admin", is_staff=True, is_superuser=True)
    return sign_in_client(Client(), boss)


def identity_form(directory_id: str) -> dict:
    return {"directory_id": directory_id, "display_name": "Ana Admin", "kind": "employee",
            "data_sensitivity": "low", "is_active": "on",
            "created_at_0": "2026-01-01", "created_at_1": "00:00:00"}


def test_the_admin_refuses_a_directory_id_another_identity_has_in_another_case(admin_client):
    IdentityFactory(directory_id="ana-1")
    response = admin_client.post(reverse("admin:accounts_identity_add"), identity_form("ANA-1"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "differs only in letter case or character width" in str(errors["directory_id"])
    assert Identity.objects.count() == 1
    created = admin_client.post(reverse("admin:accounts_identity_add"), identity_form("ana-2"))
    assert created.status_code == 302
    assert Identity.objects.get(directory_id="ana-2").directory_key == "ana-2"


def test_the_admin_refuses_invisible_characters_in_every_identifier(admin_client):
    response = admin_client.post(reverse("admin:accounts_identity_add"),
                                 identity_form("ana\u200d-1"))
    assert response.status_code == 200
    assert "U+200D zero width joiner" in str(response.context["adminform"].form.errors)
    assert not Identity.objects.exists()

    channel = RecoveryChannelFactory(address="ana@example.org")
    response = admin_client.post(
        reverse("admin:accounts_recoverychannel_change", args=[channel.pk]), {
            "identity": channel.identity.pk, "kind": "email", "address": "ana\u2060@example.org",
            "changed_at_0": "2026-01-01", "changed_at_1": "00:00:00"})
    assert response.status_code == 200
    assert "U+2060 word joiner" in str(response.context["adminform"].form.errors)
    channel.refresh_from_db()
    assert channel.address == "ana@example.org"

    user = channel.identity.user
    response = admin_client.post(reverse("admin:accounts_user_change", args=[user.pk]), {
        # in the domain, where Django's own email check lets it through
        "username": user.username, "email": "ana@exa\ufeffmple.org",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})
    assert response.status_code == 200
    assert "U+FEFF" in str(response.context["adminform"].form.errors)
    user.refresh_from_db()
    assert "\ufeff" not in user.email


# --- the rule itself --------------------------------------------------------

def test_the_canonical_form_folds_case_width_and_compatibility_forms_only():
    assert canonical("ＦＵＬＬ") == "full"
    assert canonical("\u212a") == "k"
    assert canonical("ſ") == "s"
    assert canonical("ẞ") == canonical("ß") == "ß" != canonical("ss")
    assert canonical("ı") == "ı" != canonical("i")
    assert canonical("İ") == "i\u0307" != canonical("i")
    assert canonical("а") != canonical("a")


@given(st.text(max_size=40))
def test_the_canonical_form_of_a_canonical_form_is_itself(text):
    assert canonical(canonical(text)) == canonical(text)


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40))
def test_plain_ascii_takes_the_short_way_to_the_same_answer(text):
    """ASCII skips normalisation: NFKC leaves every ASCII character as it is,
    and of them only the controls (C0, DEL) are refused."""
    import unicodedata

    from accounts.identifiers import refused_character

    assert canonical(text) == unicodedata.normalize("NFKC", text.lower())
    refused = [(i, c) for i, c in enumerate(text, start=1)
               if unicodedata.category(c) == "Cc"]
    assert refused_character(text) == (refused[0] if refused else None)
