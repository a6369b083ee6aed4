"""The rollout pages' forms: they check shape; ``rollout.workflow`` decides."""

from __future__ import annotations

from datetime import timedelta

from django import forms

from accounts.identifiers import canonical
from accounts.models import Identity, User
from accounts.roles import Role

from .models import Cohort, RolloutPlan, Wave, WaveException
from .workflow import COHORT_FIELDS, PILOT_AT_MOST

TEXT = {"rows": 3, "maxlength": 2000}


class CohortForm(forms.ModelForm):
    class Meta:
        model = Cohort
        fields = COHORT_FIELDS
        widgets = {"description": forms.Textarea(attrs=TEXT)}
        help_texts = {"description": "What the cohort is for, for the people who read the plan."}


# The plan's periods, in whole days on the page.
PERIODS = {
    "report_only_period": ("Report-only period (days)",
                           "How long a wave runs in report-only mode before it may enforce."),
    "invite_period": ("Enrolment period (days)", "From invitation to the enrolment deadline."),
    "reminder_interval": ("Days between reminders", ""),
    "snooze_period": ("Days a snooze puts off the reminders", ""),
}


class PlanForm(forms.ModelForm):
    class Meta:
        model = RolloutPlan
        fields = ("name", "description", "passkey_share_required", "channel_share_required",
                  "snooze_limit", "daily_case_limit")
        widgets = {"description": forms.Textarea(attrs=TEXT)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (label, help_text) in PERIODS.items():
            self.fields[f"{name}_days"] = forms.IntegerField(
                label=label, help_text=help_text, min_value=0 if name != "invite_period" else 1,
                max_value=365, initial=getattr(self.instance, name).days)

    def values(self) -> dict:
        """The cleaned values as the plan's fields (periods as durations)."""
        values = {name: value for name, value in self.cleaned_data.items()
                  if not name.endswith("_days")}
        for name in PERIODS:
            values[name] = timedelta(days=self.cleaned_data[f"{name}_days"])
        return values


class AddWaveForm(forms.Form):
    cohort = forms.ModelChoiceField(queryset=Cohort.objects.none(), label="Cohort",
                                    help_text="Added as the plan's last wave, in pilot.")

    def __init__(self, plan: RolloutPlan, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cohort"].queryset = Cohort.objects.exclude(waves__plan=plan)


class MoveWaveForm(forms.Form):
    to_stage = forms.ChoiceField(choices=Wave.Stage.choices, widget=forms.HiddenInput)


class OrderForm(forms.Form):
    wave = forms.IntegerField(widget=forms.HiddenInput)
    direction = forms.ChoiceField(choices=[("earlier", "Earlier"), ("later", "Later")],
                                  widget=forms.HiddenInput)


def _identifiers(text: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in text.replace(",", "\n").splitlines()
                              if part.strip()))


class PilotForm(forms.Form):
    people = forms.CharField(
        label="Members to pilot with", required=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 20000}),
        help_text=f"Directory ids of the members to pilot with, one a line (at most "
                  f"{PILOT_AT_MOST}). Leave empty to name nobody.")

    def clean_people(self) -> list[Identity]:
        wanted = _identifiers(self.cleaned_data["people"])
        if len(wanted) > PILOT_AT_MOST:
            raise forms.ValidationError(f"Name at most {PILOT_AT_MOST} people.")
        found = {i.directory_key: i for i in
                 Identity.objects.filter(directory_key__in=[canonical(w) for w in wanted])}
        unknown = [w for w in wanted if canonical(w) not in found]
        if unknown:
            raise forms.ValidationError("No identity has the directory id "
                                        + ", ".join(unknown[:10]) + ".")
        return list(found.values())


def staff_users():
    return User.objects.filter(is_active=True, groups__name__in=list(Role)).distinct() \
        .order_by("username")


class ExceptionForm(forms.ModelForm):
    person = forms.CharField(label="Person (directory id)", max_length=64)

    class Meta:
        model = WaveException
        fields = ("stage", "owner", "reason", "expires_at")
        widgets = {"reason": forms.Textarea(attrs={"rows": 2, "maxlength": 500}),
                   "expires_at": forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                     format="%Y-%m-%dT%H:%M")}
        labels = {"stage": "Excused from", "expires_at": "Expires"}

    field_order = ("person", "stage", "owner", "reason", "expires_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_users()
        self.fields["owner"].label_from_instance = \
            lambda user: user.get_full_name() or user.username

    def clean_person(self) -> Identity:
        identity = Identity.objects.filter(
            directory_key=canonical(self.cleaned_data["person"])).first()
        if identity is None:
            raise forms.ValidationError("No identity has this directory id.")
        return identity

