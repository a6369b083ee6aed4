"""Security admins edit tiers' policies and scripts here. Cases and their
evidence are changed only through the workflow, so they are not editable."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from accounts.models import User
from accounts.roles import Role

from .idv import config as idv_config
from .models import (
    CredentialRotation,
    PopulationRule,
    PressureSign,
    RecoveryPolicy,
    ScriptStep,
    Team,
    VerificationScript,
)


class StepFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kinds = [
            form.cleaned_data["kind"] for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if kinds and set(kinds) == {ScriptStep.Kind.KNOWLEDGE}:
            raise ValidationError("A knowledge question is weak: it can never be a script's "
                                  "only check.")
        if ScriptStep.Kind.IDENTITY_VERIFICATION in kinds and not idv_config.is_configured():
            raise ValidationError(
                "No identity verification provider is configured (IDV_PROVIDER and its "
                f"variables; missing: {', '.join(idv_config.missing_variables())}): a step of "
                "that kind could never pass. See docs/identity-verification.md.")
        script = self.instance
        if ScriptStep.Kind.KNOWLEDGE in kinds and script.pk and script.policies.exclude(
                tier="low").exists():
            raise ValidationError("Knowledge questions are allowed only in the low tier's script.")


class ScriptStepInline(admin.TabularInline):
    model = ScriptStep
    formset = StepFormSet
    extra = 0
    fields = ("position", "kind", "title", "instructions", "required")


@admin.register(VerificationScript)
class VerificationScriptAdmin(admin.ModelAdmin):
    list_display = ("name", "step_count", "used_by")
    inlines = [ScriptStepInline]

    @admin.display(description="steps")
    def step_count(self, script):
        return script.steps.count()

    @admin.display(description="tiers")
    def used_by(self, script):
        return ", ".join(p.get_tier_display() for p in script.policies.all()) or "—"


@admin.register(RecoveryPolicy)
class RecoveryPolicyAdmin(admin.ModelAdmin):
    list_display = ("tier", "script", "approvals_required", "credential_lifetime",
                    "max_redemption_attempts", "self_service_allowed", "revoke_old_passkeys")
    list_select_related = ("script",)
    fieldsets = [
        (None, {"fields": ("tier", "script")}),
        ("Approval", {"fields": ("approvals_required",)}),
        ("Recovery credential", {"fields": ("credential_lifetime", "max_redemption_attempts",
                                            "revoke_old_passkeys", "watch_period")}),
        ("Channels and requests", {"fields": ("self_service_allowed", "channel_max_age",
                                              "untrusted_if_changed_within")}),
        ("Velocity per person", {"fields": ("repeat_window", "refuse_from"),
                                 "description": "The strictest tier's values hold for every "
                                                "opening (the tier is not known yet)."}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # every tier always needs a policy


@admin.register(PopulationRule)
class PopulationRuleAdmin(admin.ModelAdmin):
    list_display = ("population", "minimum_tier", "self_service_allowed", "attestation_required",
                    "approvals_min", "approver_role", "credential_lifetime_max", "path")
    raw_id_fields = ("script",)

    def has_delete_permission(self, request, obj=None):
        return False  # a population without a rule would silently lose its protection


@admin.register(CredentialRotation)
class CredentialRotationAdmin(admin.ModelAdmin):
    list_display = ("case", "reference", "performed_by", "rotated_at")
    readonly_fields = ("case", "reference", "note", "performed_by", "rotated_at")

    def has_add_permission(self, request):
        return False


class TeamForm(forms.ModelForm):
    """A help-desk team as security admins edit it: the populations it
    serves as checkboxes (only PopulationRule populations), its members
    among active agents, and where it escalates (never to itself, never
    round in a circle)."""

    serves = forms.MultipleChoiceField(
        choices=PopulationRule.Population.choices, widget=forms.CheckboxSelectMultiple,
        required=False, help_text=Team._meta.get_field("serves").help_text)

    class Meta:
        model = Team
        fields = ("name", "serves", "highest_tier", "escalates_to", "routing_order", "members",
                  "hourly_norm", "daily_norm", "daily_limit", "privileged_per_hour")
        widgets = {"members": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = User.objects.filter(
            groups__name=Role.AGENT, is_active=True).order_by("first_name", "last_name",
                                                              "username").distinct()
        self.fields["members"].help_text = "Only agents work a team's queue."

    def clean_serves(self) -> list[str]:
        chosen = self.cleaned_data["serves"]
        unknown = sorted(set(chosen) - set(PopulationRule.Population.values))
        if unknown:  # the choices refuse them too: stored data must never hold one
            raise ValidationError(f"Unknown population: {', '.join(unknown)}.")
        return [value for value in PopulationRule.Population.values if value in chosen]

    def clean_escalates_to(self) -> Team | None:
        target = self.cleaned_data["escalates_to"]
        if target is None or self.instance.pk is None:
            return target
        if target.pk == self.instance.pk:
            raise ValidationError("A team cannot escalate to itself: choose another team, or "
                                  "none (the first team that serves the case).")
        seen, step = set(), target
        while step is not None and step.pk not in seen:
            if step.pk == self.instance.pk:
                raise ValidationError(f"Escalating to {target} leads back to this team.")
            seen.add(step.pk)
            step = step.escalates_to
        return target


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = ("name", "routing_order", "populations", "highest_tier", "escalates_to",
                    "member_count")
    list_select_related = ("escalates_to",)

    @admin.display(description="serves")
    def populations(self, team):
        labels = dict(PopulationRule.Population.choices)
        return ", ".join(labels.get(p, p) for p in team.serves) or "—"

    @admin.display(description="agents")
    def member_count(self, team):
        return team.members.count()

    def has_delete_permission(self, request, obj=None):
        return False  # cases keep their team (protected): empty it and route elsewhere instead


@admin.register(PressureSign)
class PressureSignAdmin(admin.ModelAdmin):
    """The social-engineering signs the agent's script ends with."""

    list_display = ("label", "code", "position", "active")
    list_editable = ("position", "active")

    def has_delete_permission(self, request, obj=None):
        return False  # switch a sign off instead: answers keep their words
