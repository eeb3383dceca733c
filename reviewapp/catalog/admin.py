from django.contrib import admin

from .models import App, AppVersion, PermissionAudit, ReviewInstructions


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "adapter", "version", "created_at", "deleted_at"]
    list_filter = ["adapter", "deleted_at"]
    search_fields = ["slug", "name"]
    # Grants changed here would bypass the audit log: change them on the app's Permissions page.
    readonly_fields = ["created_at", "updated_at", "deleted_at"]


@admin.register(PermissionAudit)
class PermissionAuditAdmin(admin.ModelAdmin):
    list_display = ["created_at", "app_slug", "actor_email", "principal", "before", "after"]
    list_filter = ["after"]
    search_fields = ["app_slug", "actor_email", "principal"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AppVersion)
class AppVersionAdmin(admin.ModelAdmin):
    list_display = ["app", "version", "adapter", "started_at"]
    readonly_fields = [f.name for f in AppVersion._meta.fields]


@admin.register(ReviewInstructions)
class ReviewInstructionsAdmin(admin.ModelAdmin):
    list_display = ["app", "version", "created_by", "created_at"]
    readonly_fields = [f.name for f in ReviewInstructions._meta.fields]
