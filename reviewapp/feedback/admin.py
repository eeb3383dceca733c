from django.contrib import admin

from .models import Assessment, MlflowSync


class ReadOnly(admin.ModelAdmin):
    """The assessment log is append-only: the admin shows it, it never edits it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Assessment)
class AssessmentAdmin(ReadOnly):
    list_display = ["assessment_id", "app", "source_id", "rating", "created_at", "app_version"]
    list_filter = ["app", "rating", "app_version"]
    search_fields = ["assessment_id", "source_id", "request__request_id"]
    list_select_related = ["app"]
    date_hierarchy = "created_at"


@admin.register(MlflowSync)
class MlflowSyncAdmin(ReadOnly):
    list_display = ["assessment", "status", "attempts", "updated_at", "last_error"]
    list_filter = ["status"]
