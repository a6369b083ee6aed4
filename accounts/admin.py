from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Identity, PasskeyCredential, RecoveryChannel, User

admin.site.register(User, UserAdmin)


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = (
        "display_name", "directory_id", "kind", "privileged", "data_sensitivity", "is_active",
        "managed_by",
    )
    list_filter = ("kind", "privileged", "data_sensitivity", "traveller", "is_active",
                   "directory_source")
    list_select_related = ("directory_source",)
    search_fields = ("display_name", "directory_id", "user__email")
    raw_id_fields = ("user", "manager", "sponsor", "owner")
    readonly_fields = ("managed_by", "external_id")

    def get_queryset(self, request):
        # A source's row holds every id its last full LDAP pass saw (a list as
        # long as the directory): not read again with each identity listed.
        return super().get_queryset(request).defer("directory_source__ldap_seen_ids")

    @admin.display(description="managed by")
    def managed_by(self, identity: Identity) -> str:
        source = identity.directory_source
        return f"{source} ({source.get_kind_display()})" if source else "Typed in the console"

    def get_readonly_fields(self, request, obj=None):
        """What the identity's directory source maps is edited at the source."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.directory_source_id is not None:
            fields += [f for f in obj.directory_source.managed_fields() if f not in fields]
        return fields


@admin.register(RecoveryChannel)
class RecoveryChannelAdmin(admin.ModelAdmin):
    list_display = ("identity", "kind", "masked_address", "verified_at", "last_confirmed_at",
                    "stale_since", "revoked_at")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter),
                   ("stale_since", admin.EmptyFieldListFilter))
    search_fields = ("identity__display_name", "identity__directory_id")
    raw_id_fields = ("identity", "totp_device")
    readonly_fields = ("from_directory",)

    def get_readonly_fields(self, request, obj=None):
        """A channel from the directory is changed at the source (revoking it
        here is still possible)."""
        if obj is not None and obj.from_directory:
            return ("identity", "kind", "address", "totp_device", "from_directory")
        return super().get_readonly_fields(request, obj)

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
