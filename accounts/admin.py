from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Identity, PasskeyCredential, RecoveryChannel, User

admin.site.register(User, UserAdmin)


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = (
        "display_name", "directory_id", "kind", "privileged", "data_sensitivity", "is_active"
    )
    list_filter = ("kind", "privileged", "data_sensitivity", "traveller", "is_active")
    search_fields = ("display_name", "directory_id", "user__email")
    raw_id_fields = ("user", "manager", "sponsor", "owner")


@admin.register(RecoveryChannel)
class RecoveryChannelAdmin(admin.ModelAdmin):
    list_display = ("identity", "kind", "masked_address", "verified_at", "last_confirmed_at",
                    "stale_since", "revoked_at")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter),
                   ("stale_since", admin.EmptyFieldListFilter))
    search_fields = ("identity__display_name", "identity__directory_id")
    raw_id_fields = ("identity", "totp_device")

    def save_model(self, request, obj, form, change):
        from django.utils import timezone

        from recovery_console.channels import channel_changed

        if not change or {"kind", "address", "totp_device"} & set(form.changed_data):
            obj.changed_at = timezone.now()
        super().save_model(request, obj, form, change)
        channel_changed(obj, request=request)


@admin.register(PasskeyCredential)
class PasskeyCredentialAdmin(admin.ModelAdmin):
    """Read-only: passkeys are made by WebAuthn ceremonies, never typed in."""

    list_display = ("user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username", "name")
    readonly_fields = ("user", "name", "credential_id", "sign_count", "transports", "aaguid",
                       "backed_up", "created_at", "last_used_at", "revoked_at", "confirmed")
    exclude = ("public_key",)

    def has_add_permission(self, request):
        return False
