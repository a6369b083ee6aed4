"""Errors beside what they are about: a field's errors under it, tied to it
by aria-describedby and marked aria-invalid; what is wrong with the form as
a whole at the top of that form, in a summary that announces itself
(role="alert") and links to each field to correct. Help text is tied to its
field the same way."""

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, recovery_case, staff
from tests.recovery.support import verify
from tests.sessions import sign_in_client

from .markup import broken_references, misplaced_errors, parse

pytestmark = pytest.mark.django_db


def checked(response, status: int = 400):
    """The page, once its markup keeps every promise about ids and errors."""
    assert response.status_code == status
    page = parse(response.content.decode())
    assert broken_references(page) == []
    assert misplaced_errors(page) == []
    return page


def by_id(page, element_id):
    found = page.find_all(id=element_id)
    assert len(found) == 1, element_id
    return found[0]


def summary_of(form):
    summaries = [e for e in form.iter() if "form-errors" in e.classes]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary.get("role") == "alert" and summary.get("tabindex") == "-1"
    return summary


def test_a_refused_sign_in_is_said_at_the_top_of_the_sign_in_form(client):
    agent = staff("agent")
    page = checked(client.post(reverse("accounts:sign_in"), {
        "username": agent.username, "password": PASSWORD, "otp_token": "000000"}))
    form = page.find_all("form", action=reverse("accounts:sign_in"))[0]
    summary = summary_of(form)
    assert summary.text().startswith("Sign-in failed")
    assert summary.get("data-error-focus") is not None  # JavaScript focuses it first
    assert list(form.iter()).index(summary) < list(form.iter()).index(
        page.find_all("input", name="username")[0])


def test_each_missing_field_is_marked_invalid_and_described_by_its_error_under_it(client):
    page = checked(client.post(reverse("accounts:sign_in"), {"username": "someone"}))
    password = page.find_all("input", name="password")[0]
    assert password.get("aria-invalid") == "true"
    error = by_id(page, password.get("aria-describedby"))
    assert error.text() == "This field is required."
    assert page.find_all("input", name="username")[0].get("aria-invalid") is None
    summary = summary_of(page.find_all("form", action=reverse("accounts:sign_in"))[0])
    links = {a.text(): a.get("href") for a in summary.find_all("a")}
    assert links == {"Password": "#id_password", "Authenticator code": "#id_otp_token"}
    # Only fields to correct: JavaScript focuses the first field, not the summary.
    assert summary.get("data-error-focus") is None


def test_help_text_describes_its_field_and_stays_when_an_error_joins_it(client):
    page = checked(client.get(reverse("recovery:redeem_read_out")), status=200)
    code = page.find_all("input", name="code")[0]
    assert code.get("aria-describedby") == "id_code_helptext"
    assert by_id(page, "id_code_helptext").text().startswith("The code you received")
    page = checked(client.post(reverse("recovery:redeem_read_out"),
                               {"reference": "", "code": "x", "passkeys": "supported"}))
    reference = page.find_all("input", name="reference")[0]
    assert reference.get("aria-describedby") == "id_reference_helptext id_reference_error"
    assert reference.get("aria-invalid") == "true"


def test_a_group_of_choices_is_a_fieldset_described_by_its_error(client):
    agent = staff("agent")
    case = verify(recovery_case("high", agent=agent), agent)
    from recovery_console import workflow

    workflow.request_approval(case, agent)
    sign_in_client(client, staff("supervisor"))
    page = checked(client.post(reverse("recovery:decide", args=[case.pk]),
                               {"reason": "Looks right."}))
    fieldset = page.find_all("fieldset")[0]
    assert fieldset.find_all("legend")[0].text() == "Decision"
    assert fieldset.get("aria-describedby") == "id_decision_error"
    radios = fieldset.find_all("input", type="radio")
    assert radios and all(r.get("aria-invalid") == "true" for r in radios)
    summary = summary_of(page.find_all("form")[1])
    assert [a.get("href") for a in summary.find_all("a")] == ["#id_decision_0"]


def test_a_form_error_about_the_whole_form_sits_in_that_form_not_only_at_the_page_top(client):
    sign_in_client(client, staff("auditor"))
    page = checked(client.post(reverse("audit:reports"), {
        "title": "Q3", "period_start": "2026-01-01", "period_end": "2026-03-31"}))
    form = page.find_all("form", action=reverse("audit:reports"))[0]
    assert summary_of(form).text().startswith("Give either a sample size or a sample rate.")
    # Help of a group of checkboxes describes the group.
    strata = [f for f in form.find_all("fieldset") if f.find_all("legend")[0].text() == "Strata"]
    assert strata[0].get("aria-describedby") == "id_strata_helptext"


def test_a_reason_missing_on_the_case_page_is_marked_in_its_own_form(client):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    sign_in_client(client, agent)
    page = checked(client.post(reverse("recovery:cancel", args=[case.pk]), {"reason": ""}))
    reason = by_id(page, "id_reason_reason")
    assert reason.get("aria-invalid") == "true"
    assert reason.closest("details").get("open") is not None


def test_a_flash_error_is_announced_and_taken_to_first(client):
    sign_in_client(client, staff("security_admin"))
    page = checked(client.post(reverse("recovery:stale_channels"), {"channel": "not-a-number"}))
    errors = [p for p in page.find_all("p") if "message" in p.classes]
    assert [(e.text(), e.get("role"), e.get("data-error-focus")) for e in errors] == [
        ("The selection was not understood.", "alert", "")]


def test_a_bad_queue_filter_is_said_under_the_filter(client):
    sign_in_client(client, staff("agent"))
    page = checked(client.get(reverse("recovery:queue"), {"kind": "dragon"}), status=200)
    kind = page.find_all("select", name="kind")[0]
    assert kind.get("aria-invalid") == "true"
    assert "dragon" in by_id(page, kind.get("aria-describedby")).text()
