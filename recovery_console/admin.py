"""Security admins edit tiers' policies and scripts here. Cases and their
evidence are changed only through the workflow, so they are not editable."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from .idv import config as idv_config
from .models import (
    CredentialRotation,
    PopulationRule,
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
