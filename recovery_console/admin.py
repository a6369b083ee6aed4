"""Security admins edit tiers' policies and scripts here. Cases and their
evidence are changed only through the workflow, so they are not editable."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from .models import (
    CredentialRotation,
    PopulationRule,
    PressureSign,
    RecoveryPolicy,
    ScriptStep,
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


@admin.register(PressureSign)
class PressureSignAdmin(admin.ModelAdmin):
    """The social-engineering signs the agent's script ends with."""

    list_display = ("label", "code", "position", "active")
    list_editable = ("position", "active")

    def has_delete_permission(self, request, obj=None):
        return False  # switch a sign off instead: answers keep their words
