"""A sampling report shows how far its review has come, lists the sampled
cases by finding (the filter kept in the URL), and links each to its page."""

from datetime import date

import pytest
from django.urls import reverse

from audit.models import Finding
from audit.sampling import SampleRequest, draw_sample

from .support import history

pytestmark = pytest.mark.django_db


def report_with_findings(auditor, size=6, issues=1, oks=2):
    report = draw_sample(auditor, SampleRequest(
        title="Year review", period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
        sample_size=size, seed=4))
    sampled = list(report.sampled.order_by("position"))
    for s in sampled[:issues]:
        Finding.objects.create(sampled=s, auditor=auditor, verdict="issue",
                               note="Callback not documented")
    for s in sampled[issues:issues + oks]:
        Finding.objects.create(sampled=s, auditor=auditor, verdict="ok")
    return report, [s.case_id for s in sampled]


def case_links(page, report, case_ids):
    return [cid for cid in case_ids
            if reverse("audit:sampled_case", args=[report.pk, cid]) in page]


def test_the_report_shows_review_progress_in_words_and_a_progress_bar(client, auditor):
    history(2)
    report, _ = report_with_findings(auditor)
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert '<label for="review-progress">3 of 6 sampled cases reviewed</label>' in page
    assert '<progress id="review-progress" max="6" value="3">50%</progress>' in page
    assert "3 still to review · 1 with an issue · 2 OK." in page


def test_a_fully_reviewed_report_says_so(client, auditor):
    history(1)
    report, _ = report_with_findings(auditor, size=2, issues=0, oks=2)
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert "2 of 2 sampled cases reviewed" in page and "Every sampled case is reviewed" in page


@pytest.mark.parametrize("finding, wanted", [
    ("issue", slice(0, 1)), ("ok", slice(1, 3)), ("unreviewed", slice(3, 6)), ("", slice(0, 6)),
])
def test_the_report_lists_the_cases_with_the_finding_chosen(client, auditor, finding, wanted):
    history(2)
    report, case_ids = report_with_findings(auditor)
    response = client.get(reverse("audit:report", args=[report.pk]), {"finding": finding})
    page = response.content.decode()
    assert response.status_code == 200
    assert [s.case_id for s in response.context["rows"]] == case_ids[wanted]
    assert case_links(page, report, case_ids) == case_ids[wanted]
    if finding:
        assert f'<option value="{finding}" selected>' in page  # the filter stays chosen
        assert f"showing the {len(case_ids[wanted])} " in page


def test_the_filter_offers_each_finding_with_its_count(client, auditor):
    history(2)
    report, _ = report_with_findings(auditor)
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    for option in ('value="" selected>All sampled cases (6)',
                   'value="unreviewed">Not reviewed yet (3)', 'value="issue">Issue (1)',
                   'value="ok">OK (2)'):
        assert option in page
    assert '<form method="get"' in page


def test_an_unknown_finding_filter_is_a_clear_400(client, auditor):
    history(1)
    report, _ = report_with_findings(auditor, size=2)
    response = client.get(reverse("audit:report", args=[report.pk]), {"finding": "maybe"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice. maybe is not one of the available choices." in page
    assert "Case " not in page.split("Review progress")[1]


def test_each_finding_links_to_its_sampled_case(client, auditor):
    history(2)
    report, case_ids = report_with_findings(auditor)
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    issue_url = reverse("audit:sampled_case", args=[report.pk, case_ids[0]])
    assert (f'<a href="{issue_url}"><strong>Issue</strong><span class="visually-hidden"> on '
            f"case {case_ids[0]}</span></a>: Callback not documented") in page
    unreviewed_url = reverse("audit:sampled_case", args=[report.pk, case_ids[5]])
    assert (f'<a href="{unreviewed_url}">Review<span class="visually-hidden"> case '
            f"{case_ids[5]}</span></a>") in page


def test_the_report_costs_the_same_queries_as_it_grows(client, auditor,
                                                        django_assert_max_num_queries):
    history(3)
    small, _ = report_with_findings(auditor, size=3, issues=1, oks=1)
    with django_assert_max_num_queries(12) as few:
        assert client.get(reverse("audit:report", args=[small.pk])).status_code == 200
    big, _ = report_with_findings(auditor, size=9, issues=3, oks=3)
    for finding in ("", "issue"):
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = client.get(reverse("audit:report", args=[big.pk]), {"finding": finding})
        assert len(response.context["rows"]) == (9 if not finding else 3)


def test_strata_read_in_words_on_the_page_and_stay_as_stored_in_the_csv(client, auditor):
    history(1)
    report = draw_sample(auditor, SampleRequest(
        title="By tier", period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
        sample_size=3, strata=("tier", "outcome"), seed=4))
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert "strata: Risk tier, Outcome" in page
    assert "<td>Risk tier: Low · Outcome: Completed</td>" in page
    assert "tier=low" not in page
    export = b"".join(client.get(reverse("audit:report_csv", args=[report.pk]))
                      .streaming_content).decode()
    assert "tier=low · outcome=completed" in export
