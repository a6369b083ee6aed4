"""Security admins choose, per population or tier, where access is restored,
and read (only) what each hand-off did. Credentials are not here: the page
names the environment variables that must hold them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join

from .config import SETTINGS, missing_variables, variable
from .models import RestoreAttempt, RestoreTarget


@admin.register(RestoreTarget)
class RestoreTargetAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "population", "tier", "enabled", "dry_run", "configured")
    list_filter = ("kind", "enabled", "dry_run")
    readonly_fields = ("environment",)
    fieldsets = [
        (None, {"fields": ("name", "kind", "enabled", "dry_run")}),
        ("Whose access", {"fields": ("population", "tier")}),
        ("The person at the provider", {"fields": ("directory_source", "subject_attribute")}),
        ("Policy at the provider", {"fields": ("remove_old_passkeys", "revoke_sessions")}),
        ("Credentials (environment only)", {"fields": ("environment",)}),
    ]

    @admin.display(boolean=True, description="credentials set")
    def configured(self, target: RestoreTarget) -> bool:
        return not missing_variables(target)

    @admin.display(description="environment variables")
    def environment(self, target: RestoreTarget) -> str:
        if not target.pk or not target.external:
            return "None: the built-in target needs no credentials."
        missing = set(missing_variables(target))
        return format_html_join(
            "", "<div><code>{}</code> {}</div>",
            ((variable(target, s.name),
              "missing" if variable(target, s.name) in missing else
              ("set" if s.required else "optional")) for s in SETTINGS[target.kind]))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a target cases used stays, disabled, for their story


@admin.register(RestoreAttempt)
class RestoreAttemptAdmin(admin.ModelAdmin):
    list_display = ("case", "number", "target", "state", "delivery", "created_at",
                    "failure_kind")
    list_filter = ("state", "kind")
    exclude = ("sealed_secret",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
