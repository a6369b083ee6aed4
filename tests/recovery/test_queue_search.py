"""The queue's one search box: a case number, part of a person's name, a
directory id, an email or a phone number finds the case, compared in the
stored canonical forms (the same on SQLite and PostgreSQL), only among the
cases the viewer could already see, and without showing any channel."""

import pytest
from django.urls import reverse

from accounts.models import RecoveryChannel
from recovery_console.models import RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
QUEUE = reverse("recovery:queue")


def found(client, q, **params) -> set[int]:
    response = client.get(QUEUE, {"q": q, **params})
    assert response.status_code == 200, response.content.decode()[:500]
    return {c.pk for c in response.context["cases"]}


@pytest.fixture
def agent_client(client):
    sign_in_client(client, staff("agent"))
    return client


def test_an_agent_finds_a_case_by_each_kind_of_key(agent_client):
    case = recovery_case("low", directory_id="EMP-4711", display_name="Ana Lucía Pérez",
                         user__email="ana.account@corp.example")
    other = recovery_case("low", display_name="Bruno Other")
    email = case.identity.channels.get(kind="email")
    email.address = "Ana.Perez@Home.Example"
    email.save()
    phone = case.identity.channels.get(kind="phone")
    phone.address = "+44 7700 900123"
    phone.save()
    for q in (str(case.pk), f"#{case.pk}",  # case number
              "lucía", "ANA LUCÍA", "pérez",  # part of the name, any case
              "emp-4711", "ＥＭＰ-4711",  # directory id, any case or width
              "ana.perez@home.example", "ANA.PEREZ@HOME.EXAMPLE",  # an email channel
              "Ana.Account@Corp.Example",  # the person's account email
              "+44 7700 900123", "+447700900123", "0044 (7700) 900-123"):  # a phone channel
        assert found(agent_client, q) == {case.pk}, q
    assert found(agent_client, "Bruno") == {other.pk}
    assert found(agent_client, "nobody-at-all") == set()


def test_a_number_read_out_nationally_finds_one_kept_internationally_in_the_desks_region(
        agent_client, settings):
    """A caller reads out their number as they dial it at home; the directory
    may keep it either way. PHONE_REGION says whose national numbers those are."""
    mobile = recovery_case("low", display_name="Mona Mobile")
    landline = recovery_case("low", display_name="Lena Landline")
    for case, address in ((mobile, "+44 7700 900123"), (landline, "020 7946 0018")):
        channel = case.identity.channels.get(kind="phone")
        channel.address = address
        channel.save()
    settings.PHONE_REGION = ""
    assert found(agent_client, "07700 900123") == set()  # whose 0? No region, no guess
    assert found(agent_client, "020 7946 0018") == {landline.pk}  # as written
    settings.PHONE_REGION = "GB"
    for q in ("07700 900123", "(07700) 900-123", "+44 7700 900123", "0044 7700 900123"):
        assert found(agent_client, q) == {mobile.pk}, q
    for q in ("+44 20 7946 0018", "+44 (0)20 7946 0018", "020 7946 0018"):
        assert found(agent_client, q) == {landline.pk}, q
    assert found(agent_client, "07700 900124") == set()  # one digit off is another number
    settings.PHONE_REGION = "DE"  # a German desk: 07700 ... is a German number
    assert found(agent_client, "07700 900123") == set()


def test_search_keeps_the_queue_table_its_filters_and_paging(agent_client, settings):
    settings.RECOVERY_QUEUE_PAGE_SIZE = 2
    smiths = [recovery_case("low", display_name=f"Sam Smith {n}") for n in range(3)]
    high = recovery_case("high", display_name="Sam Smith high")
    recovery_case("low", display_name="Jo Jones")
    assert found(agent_client, "smith", tier="high") == {high.pk}
    first = agent_client.get(QUEUE, {"q": "smith", "tier": "low"})
    assert [c.pk for c in first.context["cases"]] == [c.pk for c in smiths[:2]]
    body = first.content.decode()
    assert "Cases matching “smith” (3)" in body
    assert "q=smith&amp;tier=low&amp;page=2" in body
    assert found(agent_client, "smith", tier="low", page=2) == {smiths[2].pk}


def test_search_on_open_cases_says_how_to_include_closed_ones(agent_client):
    case = recovery_case("low", display_name="Closed Carla")
    RecoveryCase.objects.filter(pk=case.pk).update(state=RecoveryCase.State.EXPIRED)
    response = agent_client.get(QUEUE, {"q": "carla"})
    assert "No case you can see matches “carla” among open cases" in response.content.decode()
    sign_in_client(agent_client, staff("supervisor"))
    assert found(agent_client, "carla", status="all") == {case.pk}


def test_an_agent_finds_a_colleagues_case_only_by_what_the_queue_shows_of_it(client):
    """The queue lists an agent their colleagues' open cases, with a name and
    a directory id, held by whom, and no link: a search finds them by those
    and by number, never by an email or a phone (channels are not shown),
    and never finds a closed case the agent did not work."""
    holder, other = staff("agent"), staff("agent")
    held = recovery_case("low", agent=holder, directory_id="held-1", display_name="Hidden Hana")
    phone = held.identity.channels.get(kind="phone").address
    email = held.identity.channels.get(kind="email").address
    closed = recovery_case("low", directory_id="closed-1", display_name="Hidden Hugo")
    RecoveryCase.objects.filter(pk=closed.pk).update(state=RecoveryCase.State.COMPLETED)
    sign_in_client(client, other)
    for q in (str(held.pk), "hidden", "held-1"):
        response = client.get(QUEUE, {"q": q})
        assert [c.pk for c in response.context["cases"]] == [held.pk]
        assert f'href="/cases/{held.pk}/"' not in response.content.decode()
        assert "Held by" in response.content.decode()
    for q in (phone, email, held.identity.user.email, str(closed.pk), "closed-1", "hugo"):
        for status in ("open", "all", "completed"):
            response = client.get(QUEUE, {"q": q, "status": status})
            assert response.status_code == 200
            assert not response.context["cases"], (q, status)
            assert "Hidden" not in response.content.decode()
    sign_in_client(client, holder)  # the holder finds their own by every key
    for q in ("hidden", phone, email, held.identity.user.email):
        assert found(client, q) == {held.pk}, q


def test_a_search_by_email_or_phone_shows_no_channel_address(client):
    case = recovery_case("low")
    channels = list(case.identity.channels.all())
    for role in ("agent", "supervisor", "auditor"):
        sign_in_client(client, staff(role))
        for typed in channels:
            response = client.get(QUEUE, {"q": typed.address})
            assert {c.pk for c in response.context["cases"]} == {case.pk}
            body = response.content.decode()
            rows = body[body.index("<tbody>"):body.index("</tbody>")]
            for channel in channels:  # the search is echoed as typed; no row shows any
                assert channel.address not in rows and channel.masked_address not in rows
                if channel.phone_key:
                    assert channel.phone_key[-6:] not in rows
                assert channel.address not in body or channel == typed


def test_a_revoked_channel_finds_nothing(agent_client):
    case = recovery_case("low")
    email = case.identity.channels.get(kind="email")
    RecoveryChannel.objects.filter(pk=email.pk).update(revoked_at=case.opened_at)
    assert found(agent_client, email.address) == set()


@pytest.mark.parametrize("stored, typed, matches", [
    ("Straße", "STRASSE", False),  # lower case, not case folding: ß is not ss
    ("Straße", "STRAẞE", True),  # capital sharp s is ß
    ("Ilgın Yıldız", "YILDIZ", False),  # dotless ı is not i
    ("Ilgın Yıldız", "yıldız", True),
    ("Ｗｉｄｅ Ｗｉｌｌ", "wide will", True),  # width
    ("Élodie Ångström", "ÉLODIE ÅNGSTRÖM", True),
    ("Élodie", "elodie", False),  # accents are letters of their own
    ("Кира Ivanova", "КИРА", True),
    ("Кира Ivanova", "kира", False),  # Latin k is not Cyrillic к
    ("Ana   María", "ana maría", True),  # runs of white space
])
def test_names_match_by_unicode_lower_case_the_same_on_every_database(
        agent_client, stored, typed, matches):
    case = recovery_case("low", display_name=stored)
    assert found(agent_client, typed) == ({case.pk} if matches else set())


def test_like_wildcards_in_a_search_are_plain_characters(agent_client):
    recovery_case("low", display_name="Ana Smith")
    percent = recovery_case("low", display_name="100% Sure")
    assert found(agent_client, "%") == {percent.pk}
    assert found(agent_client, "_") == set()
    assert found(agent_client, "a_a") == set()


@pytest.mark.parametrize("q, message", [
    ("x" * 255, "at most 254 characters"),
    ("ana\tsmith", "control characters are not allowed"),
    ("ana\u0085smith", "control characters are not allowed"),
    ("ana\u200bsmith", "U+200B zero width space"),
    ("ana\u202esmith", "U+202E"),
])
def test_a_bad_search_gets_its_error_and_a_400_and_nothing_else(agent_client, q, message):
    recovery_case("low", display_name="Ana Smith")
    response = agent_client.get(QUEUE, {"q": q})
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert 'id="id_q_error"' in body and 'aria-invalid="true"' in body
    assert 'aria-describedby="id_q_helptext id_q_error"' in body
    assert "Ana Smith" not in body and "<table" not in body
    assert "cases" not in response.context


def test_a_filter_that_is_not_a_choice_is_left_out_not_refused(agent_client):
    case = recovery_case("low", display_name="Ana Smith")
    assert found(agent_client, "ana", tier="not-a-tier", sort="sideways") == {case.pk}
