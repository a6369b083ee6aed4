from django import forms

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
    strata = forms.MultipleChoiceField(required=False, choices=SamplingReport.Stratum.choices,
                                       widget=forms.CheckboxSelectMultiple,
                                       help_text="Draw proportionally from each group.")
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
