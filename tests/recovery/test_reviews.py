"""Repudiation feeds back: a "this wasn't me" answer marks everyone on the
staff who took part in the recovery for review, in the same transaction,
audited; security admins close each review with an outcome and a note
(never their own), auditors read them, nobody else sees them."""

import pytest
from django.test import Client
from django.urls import reverse

from recovery_console import workflow
from recovery_console.models import Alert, InvolvementReview, RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import events, refusals, step_up_now, verify
from .test_watch import not_me_token, recover

pytestmark = pytest.mark.django_db
Role = InvolvementReview.Role


@pytest.fixture
def story(settings):
    """A high-risk recovery with many hands: opened by one agent, claimed by
    a second, handed over to a third who verified and issued, approved by a
    supervisor; completed by the person. Others on the staff took no part."""
    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    claimer, finisher = staff("agent", username="claimer"), staff("agent", username="finisher")
    supervisor = staff("supervisor", username="approver")
    case = recovery_case("high", agent=claimer)
    workflow.hand_over(case, claimer, finisher, "Going off shift.")
    verify(case, finisher)
    workflow.request_approval(case, finisher)
    workflow.approve(case, supervisor, "Evidence is complete.", step_up=step_up_now())
    case.refresh_from_db()
    recover(case, finisher)
    bystanders = [staff("agent", username="bystander"), staff("supervisor", username="other")]
    return {"case": case, "opener": case.opened_by, "claimer": claimer, "finisher": finisher,
            "supervisor": supervisor, "bystanders": bystanders}


def repudiate(case: RecoveryCase):
    return Client().post(reverse("recovery:repudiate", args=[not_me_token(case)]))


def test_this_wasnt_me_marks_everyone_involved_with_the_part_they_played(story):
    assert repudiate(story["case"]).status_code == 200
    marked = {r.staff.username: r.roles for r in InvolvementReview.objects.filter(
        case=story["case"])}
    assert marked == {
        story["opener"].username: [Role.OPENED],
        "claimer": [Role.WORKED],
        "finisher": [Role.WORKED, Role.ISSUED],
        "approver": [Role.APPROVED],
    }
    assert all(r.closed_at is None for r in InvolvementReview.objects.all())
    for bystander in story["bystanders"]:
        assert not InvolvementReview.objects.filter(staff=bystander).exists()
    audited = {e.additional_data["staff"]: e for e in events("involvement_marked")}
    assert set(audited) == {story[k].pk for k in ("opener", "claimer", "finisher", "supervisor")}
    assert all(e.object_pk == str(story["case"].pk) for e in audited.values())
    assert audited[story["finisher"].pk].additional_data["roles"] == ["worked", "issued"]
    alert = Alert.objects.get(kind=Alert.Kind.REPUDIATED)
    assert alert.detail.endswith("4 staff members are marked for review.")


def test_a_replayed_link_marks_nobody_twice(story):
    repudiate(story["case"])
    assert repudiate(story["case"]).status_code == 400
    assert InvolvementReview.objects.count() == 4
    assert events("involvement_marked").count() == 4


def test_when_the_repudiation_fails_nobody_is_marked(story, monkeypatch):
    from recovery_console.workflow import closing

    def broken(*args, **kwargs):
        raise RuntimeError("alert sink down")

    monkeypatch.setattr(closing.alerts, "raise_alert", broken)
    with pytest.raises(RuntimeError):
        repudiate(story["case"])
    assert not InvolvementReview.objects.exists()  # one transaction with the repudiation


def test_the_case_timeline_says_who_was_marked(story):
    repudiate(story["case"])
    client = sign_in_client(Client(), staff("auditor"))
    page = client.get(reverse("recovery:case", args=[story["case"].pk])).content.decode()
    finisher = story["finisher"].get_full_name()
    assert (f"Marked for review after the repudiation: {finisher} (worked it, issued the "
            "recovery credential)") in page


# --- the pages -------------------------------------------------------------------

@pytest.fixture
def marked(story):
    repudiate(story["case"])
    return story


def review_of(user) -> InvolvementReview:
    return InvolvementReview.objects.get(staff=user)


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_cannot_see_the_reviews(marked, role):
    client = sign_in_client(Client(), staff(role))
    assert client.get(reverse("recovery:reviews")).status_code == 403
    review = review_of(marked["finisher"])
    assert client.get(reverse("recovery:review", args=[review.pk])).status_code == 403
    response = client.post(reverse("recovery:review", args=[review.pk]),
                           {"outcome": "cleared", "note": "Fine."})
    assert response.status_code == 403
    review.refresh_from_db()
    assert review.closed_at is None


def test_a_security_admin_lists_the_open_reviews(marked, django_assert_max_num_queries):
    client = sign_in_client(Client(), staff("security_admin"))
    with django_assert_max_num_queries(14):
        page = client.get(reverse("recovery:reviews")).content.decode()
    assert "4 open reviews" in page
    for name in ("claimer", "finisher", "approver"):
        assert name in page
    assert "Issued the recovery credential" in page


def test_the_list_reads_the_same_number_of_queries_however_many_reviews(
        marked, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = sign_in_client(Client(), staff("security_admin"))
    url = reverse("recovery:reviews")
    client.get(url)  # caches warmed (content types, the session)
    with CaptureQueriesContext(connection) as first:
        client.get(url)
    other = recovery_case("low")
    for _ in range(5):
        InvolvementReview.objects.create(case=other, staff=staff("agent"), roles=["worked"])
    with django_assert_num_queries(len(first)):
        client.get(url)


def test_an_auditor_reads_the_reviews_but_cannot_close_one(marked):
    client = sign_in_client(Client(), staff("auditor"))
    assert "4 open reviews" in client.get(reverse("recovery:reviews")).content.decode()
    review = review_of(marked["finisher"])
    url = reverse("recovery:review", args=[review.pk])
    page = client.get(url).content.decode()
    assert "Read only" in page and "Close the review" not in page
    response = client.post(url, {"outcome": "cleared", "note": "Looks fine."})
    assert response.status_code == 403
    review.refresh_from_db()
    assert review.closed_at is None
    assert refusals("review_close", "role").count() == 1


def test_a_security_admin_closes_a_review_with_an_outcome_and_a_note(marked):
    admin = staff("security_admin", first_name="Sue", last_name="Admin")
    client = sign_in_client(Client(), admin)
    review = review_of(marked["finisher"])
    url = reverse("recovery:review", args=[review.pk])
    assert "Close the review" in client.get(url).content.decode()
    response = client.post(url, {"outcome": "coaching", "note": "Skipped the callback."})
    assert response.status_code == 302
    review.refresh_from_db()
    assert (review.outcome, review.note, review.closed_by) == (
        "coaching", "Skipped the callback.", admin)
    entry = events("review_closed").get()
    assert entry.actor == admin and entry.additional_data["outcome"] == "coaching"
    assert entry.additional_data["staff"] == marked["finisher"].pk
    assert "3 open reviews" in client.get(reverse("recovery:reviews")).content.decode()
    again = client.post(url, {"outcome": "cleared", "note": "Changed my mind."})
    assert again.status_code == 409
    review.refresh_from_db()
    assert review.outcome == "coaching"
    assert refusals("review_close", "review_closed").count() == 1


@pytest.mark.parametrize("posted, reason", [
    ({"outcome": "cleared", "note": "  "}, "note_required"),
    ({"outcome": "fired", "note": "Out."}, "bad_outcome"),
    ({"note": "No outcome."}, "bad_outcome"),
    ({"outcome": "cleared", "note": "x" * 2001}, "note_length"),
])
def test_bad_input_is_refused_and_changes_nothing(marked, posted, reason):
    client = sign_in_client(Client(), staff("security_admin"))
    review = review_of(marked["finisher"])
    response = client.post(reverse("recovery:review", args=[review.pk]), posted)
    assert response.status_code == 400
    review.refresh_from_db()
    assert review.closed_at is None and review.outcome == ""
    assert refusals("review_close", reason).count() == 1
    assert not events("review_closed").exists()


def test_nobody_reviews_their_own_part(marked):
    # A supervisor who is also a security admin approved the reset.
    approver = marked["supervisor"]
    approver.groups.add(*staff("security_admin").groups.all())
    client = sign_in_client(Client(), approver)
    own = review_of(approver)
    url = reverse("recovery:review", args=[own.pk])
    page = client.get(url).content.decode()
    assert "This is the review of your own part" in page and "Close the review" not in page
    response = client.post(url, {"outcome": "cleared", "note": "I did nothing wrong."})
    assert response.status_code == 403
    own.refresh_from_db()
    assert own.closed_at is None
    assert refusals("review_close", "own_review").count() == 1
    # They may close a colleague's.
    other = review_of(marked["claimer"])
    assert client.post(reverse("recovery:review", args=[other.pk]),
                       {"outcome": "cleared", "note": "Handed over properly."}).status_code == 302


def test_an_unknown_review_is_not_found(marked):
    client = sign_in_client(Client(), staff("security_admin"))
    assert client.get(reverse("recovery:review", args=[999999])).status_code == 404


def test_security_admins_see_open_reviews_counted_in_the_navigation(marked):
    client = sign_in_client(Client(), staff("security_admin"))
    page = client.get(reverse("accounts:passkeys")).content.decode()
    assert 'aria-label="Reviews, 4 open"' in page
    auditor = sign_in_client(Client(), staff("auditor"))
    page = auditor.get(reverse("accounts:passkeys")).content.decode()
    assert f'href="{reverse("recovery:reviews")}">Reviews</a>' in page
