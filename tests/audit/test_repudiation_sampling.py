"""Repudiation feeds the auditor's sampling: with the "Agent with a
repudiation" stratum, every case held by an agent marked for review after a
repudiation (in the period or before its end) is drawn first, up to the
sample size; the rest is shared as before. Reproducible from the seed."""

from collections import Counter
from datetime import UTC, datetime

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from audit.models import SamplingReport
from audit.sampling import SampleRequest, agents_with_repudiations, draw_sample
from recovery_console.models import InvolvementReview, RecoveryCase
from tests.factories import recovery_case

from .support import history

pytestmark = pytest.mark.django_db


def draw(auditor, period=("2026-01-01", "2026-12-31"), **fields):
    start, end = (datetime.fromisoformat(day).date() for day in period)
    return draw_sample(auditor, SampleRequest(title="Q", period_start=start, period_end=end,
                                              **fields))


def repudiation_against(username: str, at: datetime) -> InvolvementReview:
    """``username`` marked for review after a repudiation at ``at``."""
    case = RecoveryCase.objects.filter(agent__username=username).first()
    return InvolvementReview.objects.create(case=case, staff=case.agent, roles=["worked"],
                                            created_at=at)


def agents_drawn(report) -> Counter:
    return Counter(report.sampled.values_list("case__agent__username", flat=True))


def test_every_case_of_an_agent_with_a_repudiation_is_drawn_first(auditor):
    history()  # 18 cases, 9 held by agent-0 and 9 by agent-1
    repudiation_against("agent-0", datetime(2026, 3, 5, tzinfo=UTC))
    plain = draw(auditor, sample_size=12, strata=("agent",), seed=4)
    assert agents_drawn(plain) == {"agent-0": 6, "agent-1": 6}  # in proportion
    over = draw(auditor, sample_size=12, strata=("repudiation",), seed=4)
    assert agents_drawn(over) == {"agent-0": 9, "agent-1": 3}
    strata = dict(over.sampled.values_list("case__agent__username", "stratum").distinct())
    assert strata == {"agent-0": "repudiation=yes", "agent-1": "repudiation=no"}
    entry = LogEntry.objects.filter(additional_data__event="sample_drawn").order_by("pk").last()
    assert entry.additional_data["over_sampled"] == 9


def test_when_their_cases_outnumber_the_sample_only_theirs_are_drawn(auditor):
    history()
    repudiation_against("agent-1", datetime(2026, 2, 1, tzinfo=UTC))
    report = draw(auditor, sample_size=5, strata=("repudiation",), seed=8)
    assert agents_drawn(report) == {"agent-1": 5}


def test_it_combines_with_other_strata(auditor):
    history()
    repudiation_against("agent-0", datetime(2026, 1, 2, tzinfo=UTC))
    report = draw(auditor, sample_size=12, strata=("tier", "repudiation"), seed=2)
    per = Counter(report.sampled.values_list("stratum", flat=True))
    # agent-0's 9 cases (3 per tier) all drawn; the other 3 shared over the tiers.
    assert {k: v for k, v in per.items() if k.endswith("repudiation=yes")} == {
        "tier=low · repudiation=yes": 3, "tier=medium · repudiation=yes": 3,
        "tier=high · repudiation=yes": 3}
    assert sum(v for k, v in per.items() if k.endswith("repudiation=no")) == 3


def test_the_same_seed_draws_the_same_cases(auditor):
    history()
    repudiation_against("agent-0", datetime(2026, 3, 5, tzinfo=UTC))
    ids = [list(draw(auditor, sample_size=11, strata=("tier", "repudiation"), seed=seed)
                .sampled.values_list("case_id", flat=True)) for seed in (17, 17, 18)]
    assert ids[0] == ids[1] and ids[0] != ids[2]


def test_a_repudiation_after_the_period_does_not_count(auditor):
    history()
    repudiation_against("agent-0", datetime(2026, 7, 1, tzinfo=UTC))
    end_of_june = datetime(2026, 6, 30).date()
    assert agents_with_repudiations(end_of_june) == set()
    report = draw(auditor, period=("2026-01-01", "2026-06-30"), sample_size=12,
                  strata=("repudiation",), seed=4)
    assert report.sampled.count() == 12
    assert set(report.sampled.values_list("stratum", flat=True)) == {"repudiation=no"}
    # One made before the period counts: the agent is still worth a closer look.
    repudiation_against("agent-1", datetime(2025, 12, 1, tzinfo=UTC))
    assert agents_with_repudiations(end_of_june) == {
        RecoveryCase.objects.filter(agent__username="agent-1").first().agent_id}


def test_a_case_nobody_held_is_not_over_sampled(auditor):
    history(1)
    unheld = recovery_case("low")
    RecoveryCase.objects.filter(pk=unheld.pk).update(
        opened_at=datetime(2026, 1, 3, tzinfo=UTC), state="cancelled")
    repudiation_against("agent-0", datetime(2026, 1, 2, tzinfo=UTC))
    report = draw(auditor, sample_size=4, strata=("repudiation",), seed=1)
    assert dict(report.sampled.values_list("case_id", "stratum"))[unheld.pk] == \
        "repudiation=no"


def test_the_report_shows_the_stratum_in_words(client, auditor):
    history()
    repudiation_against("agent-0", datetime(2026, 3, 5, tzinfo=UTC))
    response = client.post(reverse("audit:reports"), {
        "title": "Repudiations first", "period_start": "2026-01-01",
        "period_end": "2026-12-31", "sample_size": "10", "strata": ["repudiation"]})
    report = SamplingReport.objects.get()
    assert response.status_code == 302
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert "strata: Agent with a repudiation (over-sampled)" in page
    assert page.count("Agent with a repudiation (over-sampled): Yes") == 9
    assert page.count("Agent with a repudiation (over-sampled): No") == 1
    form = client.get(reverse("audit:reports")).content.decode()
    assert "is drawn first, up to the sample size" in form
