"""The security admins' day: alerts they filter, follow to the case and the
person, and acknowledge in bulk with a note; stale channels that say which
rule made them stale, revoked in bulk for a reason. Through HTTP."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from accounts.models import RecoveryChannel
from recovery_console import alerts, channels
from recovery_console.models import Alert, RecoveryPolicy
from recovery_console.refusal import WorkflowError
from recovery_console.views import watch
from tests.factories import IdentityFactory, RecoveryChannelFactory, recovery_case, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
ALERTS = reverse("recovery:alerts")
ACKNOWLEDGE = reverse("recovery:alerts_acknowledge")
STALE = reverse("recovery:stale_channels")
Kind = Alert.Kind


def alert(kind=Kind.NEW_NETWORK, *, case=None, identity=None, acknowledged_by=None,
          days_ago=0):
    identity = identity or (case.identity if case else IdentityFactory())
    return Alert.objects.create(
        identity=identity, case=case, kind=kind, detail=f"{kind} happened.",
        created_at=timezone.now() - timedelta(days=days_ago),
        acknowledged_by=acknowledged_by,
        acknowledged_at=timezone.now() if acknowledged_by else None)


def stale_channel(days=400, **fields):
    return RecoveryChannelFactory(last_confirmed_at=timezone.now() - timedelta(days=days),
                                  **fields)


@pytest.fixture
def admin(client):
    """A signed-in security admin who may also open the Django admin."""
    user = staff("security_admin", first_name="Sol", last_name="Security", is_staff=True)
    sign_in_client(client, user)
    return user


def ticked(response, name="alert") -> set[int]:
    html = response.content.decode()
    return {int(pk) for pk in _values(html, f'name="{name}" value="', '" id="')
            if f'value="{pk}" id="{name}-{pk}" checked' in html}


def boxes(response, name="alert") -> int:
    return response.content.decode().count(f'name="{name}"')


def _values(html, before, after):
    parts = html.split(before)[1:]
    return [p.split(after, 1)[0] for p in parts]


def open_count() -> int:
    return Alert.objects.filter(acknowledged_at__isnull=True).count()


# --- alerts: links, filters, pages --------------------------------------------

def test_an_alert_links_to_its_case_and_to_its_person_and_both_open(client, admin):
    case = recovery_case("low")
    shown = alert(case=case)
    page = client.get(ALERTS).content.decode()
    case_url = reverse("recovery:case", args=[case.pk])
    person_url = reverse("admin:accounts_identity_change", args=[shown.identity_id])
    assert f'href="{case_url}"' in page and f'href="{person_url}"' in page
    assert client.get(case_url).status_code == 200
    person = client.get(person_url)
    assert person.status_code == 200 and case.identity.directory_id in person.content.decode()


def test_the_person_is_not_a_link_for_an_admin_who_may_not_open_the_django_admin(client):
    sign_in_client(client, staff("security_admin", is_staff=False))
    shown = alert()
    page = client.get(ALERTS).content.decode()
    assert shown.identity.display_name in page
    assert reverse("admin:accounts_identity_change", args=[shown.identity_id]) not in page


def test_the_list_shows_open_alerts_by_default(client, admin):
    waiting = alert()
    handled = alert(acknowledged_by=admin)
    page = client.get(ALERTS)
    assert [a.pk for a in page.context["alerts"]] == [waiting.pk]
    assert f"#{handled.pk}" not in page.content.decode()


def test_alerts_filter_by_kind_and_state_in_the_url(client, admin):
    network = alert(Kind.NEW_NETWORK)
    network_done = alert(Kind.NEW_NETWORK, acknowledged_by=admin, days_ago=1)
    alert(Kind.CHANNEL_CHANGE)
    alert(Kind.PASSKEY_ENROLMENT, acknowledged_by=admin)

    def shown(**query):
        return [a.pk for a in client.get(ALERTS, query).context["alerts"]]

    assert shown(kind="new_network") == [network.pk]
    assert shown(kind="new_network", state="acknowledged") == [network_done.pk]
    assert shown(kind="new_network", state="all") == [network.pk, network_done.pk]
    assert len(shown(state="all")) == 4
    page = client.get(ALERTS, {"kind": "new_network", "state": "all"}).content.decode()
    assert '<option value="new_network" selected>' in page
    assert '<option value="all" selected>' in page
    assert f"{ACKNOWLEDGE}?kind=new_network&amp;state=all" in page  # the form comes back here


def test_an_unknown_filter_value_shows_the_default_list(client, admin):
    waiting = alert()
    response = client.get(ALERTS, {"kind": "nonsense", "state": "everything"})
    assert response.status_code == 200
    assert [a.pk for a in response.context["alerts"]] == [waiting.pk]


def test_acknowledged_alerts_show_who_when_and_the_note_and_cannot_be_chosen(client, admin):
    done = alert(acknowledged_by=admin)
    Alert.objects.filter(pk=done.pk).update(acknowledgement_note="Traveller, confirmed by phone.")
    response = client.get(ALERTS, {"state": "acknowledged"})
    page = response.content.decode()
    assert "Acknowledged</span> by Sol Security" in page
    assert "Traveller, confirmed by phone." in page
    assert boxes(response) == 0 and "Acknowledge chosen alerts" not in page


def test_alerts_come_in_pages_that_keep_the_filters(client, admin, monkeypatch):
    monkeypatch.setattr(watch, "ALERTS_PER_PAGE", 2)
    made = [alert(Kind.CHANNEL_CHANGE, days_ago=d) for d in range(3)]
    alert(Kind.NEW_NETWORK)
    first = client.get(ALERTS, {"kind": "channel_change"})
    assert [a.pk for a in first.context["alerts"]] == [made[0].pk, made[1].pk]
    assert "kind=channel_change&amp;page=2" in first.content.decode()
    second = client.get(ALERTS, {"kind": "channel_change", "page": 2})
    assert [a.pk for a in second.context["alerts"]] == [made[2].pk]
    assert "3 open alerts, 3–3 shown" in second.content.decode()


# --- alerts: acknowledging in bulk ----------------------------------------------

def test_a_security_admin_acknowledges_several_alerts_with_one_note(client, admin):
    first, second, third = alert(), alert(), alert()
    response = client.post(f"{ACKNOWLEDGE}?kind=new_network&state=open",
                           {"alert": [first.pk, second.pk], "note": "  Same traveller.  "})
    assert response.status_code == 302
    assert response.url == f"{ALERTS}?kind=new_network&state=open"
    for acknowledged in (first, second):
        acknowledged.refresh_from_db()
        assert acknowledged.acknowledged_by == admin and acknowledged.acknowledged_at
        assert acknowledged.acknowledgement_note == "Same traveller."
    third.refresh_from_db()
    assert third.acknowledged_at is None
    entries = LogEntry.objects.filter(additional_data__event="alert_acknowledged")
    assert sorted(int(e.object_pk) for e in entries) == [first.pk, second.pk]
    assert all(e.actor == admin and e.additional_data["note"] == "Same traveller."
               and e.additional_data["bulk"] is True for e in entries)
    after = client.get(response.url)
    assert "2 alerts acknowledged." in after.content.decode()
    assert [a.pk for a in after.context["alerts"]] == [third.pk]


def test_a_note_is_optional(client, admin):
    waiting = alert()
    assert client.post(ACKNOWLEDGE, {"alert": [waiting.pk]}).status_code == 302
    waiting.refresh_from_db()
    assert waiting.acknowledged_at and waiting.acknowledgement_note == ""


@pytest.mark.parametrize("role", ["agent", "supervisor", "auditor"])
def test_only_security_admins_acknowledge_alerts(client, role):
    waiting = alert()
    sign_in_client(client, staff(role))
    response = client.post(ACKNOWLEDGE, {"alert": [waiting.pk], "note": "Mine now."})
    assert response.status_code == 403
    assert open_count() == 1
    assert not LogEntry.objects.filter(additional_data__event="alert_acknowledged").exists()


def test_the_decision_itself_refuses_anyone_but_a_security_admin():
    waiting = alert()
    with pytest.raises(WorkflowError) as refused:
        alerts.acknowledge_many([waiting.pk], staff("supervisor"), "Fine.")
    assert refused.value.reason == "not_security_admin" and refused.value.status == 403
    assert open_count() == 1
    assert LogEntry.objects.filter(additional_data__event="alert_acknowledge_refused",
                                   additional_data__reason="not_security_admin").exists()


def test_acknowledging_nothing_is_refused(client, admin):
    alert()
    response = client.post(ACKNOWLEDGE, {"note": "All good."})
    assert response.status_code == 400
    assert "Choose at least one alert to acknowledge." in response.content.decode()
    assert open_count() == 1
    assert "All good." in response.content.decode()  # the note is kept for another try


def test_an_already_acknowledged_alert_is_named_and_nothing_changes(client, admin):
    other = staff("security_admin", first_name="Ada", last_name="Admin")
    waiting = alert()
    done = alert(acknowledged_by=other)
    response = client.post(ACKNOWLEDGE, {"alert": [waiting.pk, done.pk], "note": "Checked."})
    assert response.status_code == 409
    page = response.content.decode()
    assert (f"already acknowledged #{done.pk} ({done.identity.display_name}) by Ada Admin"
            in page)
    waiting.refresh_from_db()
    assert waiting.acknowledged_at is None
    assert not LogEntry.objects.filter(additional_data__event="alert_acknowledged").exists()
    refusal = LogEntry.objects.get(additional_data__event="alert_acknowledge_refused")
    assert refusal.actor == admin and refusal.additional_data["already"] == [done.pk]
    assert ticked(response) == {waiting.pk}  # ready to submit again without it
    assert "Checked." in page


def test_more_alerts_than_one_request_may_acknowledge_are_refused(client, admin):
    made = [alert() for _ in range(alerts.ACKNOWLEDGE_AT_MOST + 1)]
    response = client.post(ACKNOWLEDGE, {"alert": [a.pk for a in made]})
    assert response.status_code == 400
    assert f"Choose at most {alerts.ACKNOWLEDGE_AT_MOST} alerts at once." in \
        response.content.decode()
    assert open_count() == len(made)


@pytest.mark.parametrize("data, status, message", [
    ({"alert": ["abc"]}, 400, "The selection was not understood."),
    ({"alert": [10**9]}, 404, "Some of the chosen alerts do not exist."),
    ({"note": "x" * 501}, 400, "Keep the note under 500 characters."),
])
def test_bad_acknowledgements_change_nothing(client, admin, data, status, message):
    waiting = alert()
    data = {"alert": [waiting.pk], **data}
    response = client.post(ACKNOWLEDGE, data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert open_count() == 1


def test_a_note_too_long_is_shown_next_to_the_note(client, admin):
    waiting = alert()
    response = client.post(ACKNOWLEDGE, {"alert": [waiting.pk], "note": "x" * 501})
    page = response.content.decode()
    assert 'id="id_note_error"' in page
    assert 'aria-describedby="id_note_helptext id_note_error"' in page


# --- stale channels: the rule, in words -----------------------------------------

def set_channel_ages(**days):
    for tier, age in days.items():
        RecoveryPolicy.objects.filter(tier=tier).update(channel_max_age=timedelta(days=age))


def test_each_stale_channel_says_which_policy_makes_it_stale_and_since_when(client, admin):
    set_channel_ages(low=730, medium=730, high=365, restricted=90)
    old = stale_channel(400, identity=IdentityFactory(display_name="Olive Old"))
    response = client.get(STALE)
    page = response.content.decode()
    assert ("Not confirmed for 400 days; the high-tier policy allows 365. "
            "Still accepted at the low and medium tiers.") in page
    since = old.last_confirmed_at + timedelta(days=90)
    assert f'Stale at the restricted tier since <time datetime="{since:%Y-%m-%d}' in page
    assert f"{since:%-d %b %Y}</time>" in page
    assert "not yet (flagged daily)" in page
    channels.mark_stale()
    assert "not yet (flagged daily)" not in client.get(STALE).content.decode()


@pytest.mark.parametrize("ages, days, words", [
    ({}, 400, "Not confirmed for 400 days; every tier's policy allows 180."),
    ({"low": 365, "medium": 365}, 400,
     "Not confirmed for 400 days; the low and medium-tier policies allow 365. "
     "Stale at every tier."),
    ({"low": 365, "medium": 365}, 200,
     "Not confirmed for 200 days; the high and restricted-tier policies allow 180. "
     "Still accepted at the low and medium tiers."),
    ({"restricted": 30}, 31,
     "Not confirmed for 31 days; the restricted-tier policy allows 30. "
     "Still accepted at the low, medium and high tiers."),
])
def test_the_rule_in_words(ages, days, words):
    set_channel_ages(**ages)
    channel = stale_channel(days)
    now = channel.last_confirmed_at + timedelta(days=days, minutes=1)
    policies = list(RecoveryPolicy.objects.all())
    assert channels.why_stale(channel, policies, now).explanation == words


def test_a_channel_goes_stale_first_at_the_strictest_tiers():
    policies = list(RecoveryPolicy.objects.all())
    channel = stale_channel(400)
    everywhere = channels.why_stale(channel, policies, timezone.now())
    assert everywhere.since_at == "" and \
        everywhere.since == channel.last_confirmed_at + timedelta(days=180)
    set_channel_ages(high=90, restricted=90)
    policies = list(RecoveryPolicy.objects.all())
    assert channels.why_stale(channel, policies, timezone.now()).since_at == \
        "the high and restricted tiers"


def test_a_channel_never_verified_or_never_confirmed_says_so():
    policies = list(RecoveryPolicy.objects.all())
    now = timezone.now()
    unverified = RecoveryChannelFactory(verified_at=None)
    unconfirmed = RecoveryChannelFactory(last_confirmed_at=None)
    assert channels.why_stale(unverified, policies, now).explanation.startswith("Never verified")
    assert channels.why_stale(unconfirmed, policies, now).since is None
    assert "never confirmed" in channels.why_stale(unconfirmed, policies, now).explanation
    assert channels.why_stale(RecoveryChannelFactory(), policies, now) is None  # fresh


def test_stale_channels_come_in_pages(client, admin, monkeypatch):
    monkeypatch.setattr(watch, "CHANNELS_PER_PAGE", 2)
    made = [stale_channel(400 + n) for n in range(3)]
    first = client.get(STALE)
    assert [c.pk for c in first.context["channels"]] == [made[2].pk, made[1].pk]
    assert "?page=2" in first.content.decode()
    assert [c.pk for c in client.get(STALE, {"page": 2}).context["channels"]] == [made[0].pk]


# --- stale channels: revoking in bulk for a reason ------------------------------

def test_a_revocation_keeps_its_reason_in_the_audit_and_shows_it(client, admin):
    chosen = [stale_channel(), stale_channel()]
    left = stale_channel()
    reason = "Contractor left in 2023; nobody answers."
    response = client.post(STALE, {"channel": [c.pk for c in chosen], "reason": reason})
    assert response.status_code == 302
    assert set(RecoveryChannel.objects.filter(revoked_at__isnull=False)
               .values_list("pk", flat=True)) == {c.pk for c in chosen}
    entries = LogEntry.objects.filter(additional_data__event="channel_revoked")
    assert entries.count() == 2
    assert all(e.actor == admin and e.additional_data["reason"] == reason
               and e.additional_data["because"] == "stale" for e in entries)
    page = client.get(STALE)
    html = page.content.decode()
    assert f"2 channels revoked. Reason: {reason}" in html
    assert [c.pk for c in page.context["channels"]] == [left.pk]
    recent = page.context["revocations"]
    assert {r.channel.pk for r in recent} == {c.pk for c in chosen}
    assert html.count(reason) == 3  # the message, and one row per channel
    assert "Revoked in the last 30 days" in html and "Sol Security" in html


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_revocation_without_a_usable_reason_changes_nothing(client, admin, reason):
    chosen = stale_channel()
    response = client.post(STALE, {"channel": [chosen.pk], "reason": reason})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_reason_error"' in html and "Give a reason for the revocation" in html
    assert ticked(response, "channel") == {chosen.pk}
    assert not RecoveryChannel.objects.filter(revoked_at__isnull=False).exists()
    assert not LogEntry.objects.filter(additional_data__event="channel_revoked").exists()
    assert LogEntry.objects.filter(additional_data__event="channel_revoke_refused",
                                   additional_data__reason="reason_required").exists()


def test_more_channels_than_one_request_may_revoke_are_refused(client, admin):
    made = [stale_channel() for _ in range(channels.REVOKE_AT_MOST + 1)]
    response = client.post(STALE, {"channel": [c.pk for c in made], "reason": "Old."})
    assert response.status_code == 400
    assert f"Choose at most {channels.REVOKE_AT_MOST} channels at once." in \
        response.content.decode()
    assert not RecoveryChannel.objects.filter(revoked_at__isnull=False).exists()


def test_the_decision_itself_refuses_anyone_but_a_security_admin_to_revoke():
    chosen = stale_channel()
    with pytest.raises(WorkflowError) as refused:
        channels.revoke_stale(staff("supervisor"), [chosen.pk], "Old.")
    assert refused.value.reason == "not_security_admin" and refused.value.status == 403
    chosen.refresh_from_db()
    assert chosen.revoked_at is None


# --- query counts -----------------------------------------------------------------

def test_the_alerts_page_costs_the_same_queries_however_many_alerts(
        client, admin, django_assert_max_num_queries):
    for _ in range(3):
        alert(case=None)
    alert(acknowledged_by=admin)
    # 12, and the navigation's two counts (approvals waiting, open alerts).
    with django_assert_max_num_queries(14) as few:
        assert client.get(ALERTS, {"state": "all"}).status_code == 200
    other = staff("security_admin")
    for n in range(30):
        alert(Kind.CHANNEL_CHANGE, acknowledged_by=other if n % 2 else None)
    with django_assert_max_num_queries(len(few)):
        page = client.get(ALERTS, {"state": "all"})
    assert len(page.context["alerts"]) == 34


def test_the_stale_channels_page_costs_the_same_queries_however_many_channels(
        client, admin, django_assert_max_num_queries):
    made = [stale_channel() for _ in range(3)]
    client.post(STALE, {"channel": [made[0].pk], "reason": "Gone."})
    with django_assert_max_num_queries(12) as few:
        assert client.get(STALE).status_code == 200
    baseline = len(few)  # now: the next request clears the connection's query log
    made = [stale_channel() for _ in range(30)]
    client.post(STALE, {"channel": [c.pk for c in made[:10]], "reason": "Gone too."})
    with django_assert_max_num_queries(baseline):
        page = client.get(STALE)
    assert len(page.context["channels"]) == 22 and len(page.context["revocations"]) == 11
