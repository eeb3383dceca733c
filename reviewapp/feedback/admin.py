from django.contrib import admin

from reviewapp.lib.admin import ReadOnlyAdmin

from .models import Assessment, MlflowSync


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ["assessment_id", "app", "source_id", "rating", "created_at", "app_version"]
    list_filter = ["app", "rating", "app_version"]
    search_fields = ["assessment_id", "source_id", "request__request_id"]
    list_select_related = ["app"]
    date_hierarchy = "created_at"


@admin.register(MlflowSync)
class MlflowSyncAdmin(ReadOnlyAdmin):
    list_display = ["assessment", "status", "attempts", "updated_at", "last_error"]
    list_filter = ["status"]
