from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Identity, User

admin.site.register(User, UserAdmin)


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = (
        "display_name", "directory_id", "kind", "privileged", "data_sensitivity", "is_active"
    )
    list_filter = ("kind", "privileged", "data_sensitivity", "traveller", "is_active")
    search_fields = ("display_name", "directory_id", "user__email")
    raw_id_fields = ("user", "manager", "sponsor", "owner")
