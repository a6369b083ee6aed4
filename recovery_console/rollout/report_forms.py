from django import forms

from .models import Cohort


class ReadinessForm(forms.Form):
    """Whose readiness the report shows, read from the query string: a
    cohort, or (left empty) the whole organisation."""

    cohort = forms.ModelChoiceField(
        Cohort.objects.order_by("name"), required=False, label="Population",
        empty_label="Whole organisation",
        error_messages={"invalid_choice": "There is no such cohort: choose one from the list."})
