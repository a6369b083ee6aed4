from datetime import date

from django import forms

from . import dashboard
from .models import Finding, SamplingReport


class SampleForm(forms.Form):
    title = forms.CharField(max_length=150)
    period_start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label="To (inclusive)",
                                 widget=forms.DateInput(attrs={"type": "date"}))
    sample_size = forms.IntegerField(required=False, min_value=1, max_value=10_000,
                                     help_text="A number of cases, or leave empty and give a rate.")
    sample_rate = forms.DecimalField(required=False, min_value=0.0001, max_value=1,
                                     max_digits=5, decimal_places=4,
                                     help_text="A fraction, e.g. 0.05 for 5%.")
    strata = forms.MultipleChoiceField(
        required=False, choices=SamplingReport.Stratum.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Draw proportionally from each group. With “Agent with a repudiation”, every "
                  "case held by an agent marked for review after a repudiation (up to the "
                  "period's end) is drawn first, up to the sample size.")
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**62,
                              help_text="Leave empty for a new random sample; give a report's "
                                        "seed to draw it again.")
    include_open = forms.BooleanField(
        required=False, label="Include open cases",
        help_text="By default only closed cases are drawn: an open case's story is not "
                  "finished. Tick to draw from open cases too (to redraw a report, give its "
                  "seed and the same choice).")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if (data.get("sample_size") is None) == (data.get("sample_rate") is None):
            raise forms.ValidationError("Give either a sample size or a sample rate.")
        if data["period_start"] > data["period_end"]:
            raise forms.ValidationError("The period must start before it ends.")
        return data


class FindingForm(forms.Form):
    verdict = forms.ChoiceField(choices=Finding.Verdict.choices, widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text="Required for an issue.")


class DashboardRangeForm(forms.Form):
    """The dashboard's range of UTC days, read from the query string. Either
    end left out takes its default: the last twelve months up to today."""

    start = forms.DateField(label="From", required=False, widget=forms.DateInput(
        format="%Y-%m-%d", attrs={"type": "date", "aria-describedby": "range-help"}))
    end = forms.DateField(label="To (inclusive)", required=False, widget=forms.DateInput(
        format="%Y-%m-%d", attrs={"type": "date", "aria-describedby": "range-help"}))

    def __init__(self, data=None, *, today: date, initial: dict | None = None):
        super().__init__(data, initial=initial)
        self.today = today

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        end = data.get("end") or self.today
        start = data.get("start") or dashboard.default_range(end)[0]
        if start > end:
            raise forms.ValidationError("The range must start on or before the day it ends.")
        months = len(dashboard.months_between(start, end))
        if months > dashboard.MAX_MONTHS:
            raise forms.ValidationError(
                f"Choose at most {dashboard.MAX_MONTHS} months: this range covers {months}.")
        return {"start": start, "end": end}

    def problems(self) -> list[str]:
        """Every error as a sentence, a field's named by its label."""
        return [message if name == "__all__" else f"{self.fields[name].label}: {message}"
                for name, messages in self.errors.items() for message in messages]


class FindingFilterForm(forms.Form):
    """Which sampled cases of a report to list, by their finding."""

    finding = forms.ChoiceField(label="Finding", required=False, choices=[
        ("", "All sampled cases"), ("unreviewed", "Not reviewed yet"),
        (Finding.Verdict.ISSUE, "Issue"), (Finding.Verdict.OK, "OK")])

    def __init__(self, data, *, counts: dict[str, int] | None = None):
        """``counts`` (from ``sampling.review_progress``) are shown in the choices."""
        super().__init__(data)
        if counts:
            field = self.fields["finding"]
            field.choices = [(value, f"{label} ({counts[value or 'total']})")
                             for value, label in field.choices]

    @property
    def finding_shown(self) -> str:
        """Which sampled cases the list shows, in words (after validation)."""
        return {"unreviewed": "not reviewed yet", Finding.Verdict.ISSUE: "found with an issue",
                Finding.Verdict.OK: "found OK"}.get(self.cleaned_data.get("finding"), "")
