from django import forms
from django.contrib import admin

from reviewapp.lib.admin import ReadOnlyAdmin

from .models import App, AppVersion, PermissionAudit, ReviewInstructions


class ExperimentRefsField(forms.CharField):
    """A list of experiment ids or names, edited one per line."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        lines = (line.strip() for line in (value or "").splitlines())
        return list(dict.fromkeys(line for line in lines if line))


class AppAdminForm(forms.ModelForm):
    linked_experiments = ExperimentRefsField(
        required=False,
        label="Linked MLflow experiments",
        help_text="One experiment id or name per line. Managers of this app may import these "
        "experiments' traces (besides the app's own experiment), so link only experiments whose "
        "conversations they may read.",
    )

    class Meta:
        model = App
        fields = "__all__"


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    form = AppAdminForm
    list_display = ["slug", "name", "adapter", "version", "created_at", "deleted_at"]
    list_filter = ["adapter", "deleted_at"]
    search_fields = ["slug", "name"]
    # Grants changed here would bypass the audit log: change them on the app's Permissions page.
    readonly_fields = ["created_at", "updated_at", "deleted_at"]


@admin.register(PermissionAudit)
class PermissionAuditAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "app_slug", "actor_email", "principal", "before", "after"]
    list_filter = ["after"]
    search_fields = ["app_slug", "actor_email", "principal"]


@admin.register(AppVersion)
class AppVersionAdmin(admin.ModelAdmin):
    list_display = ["app", "version", "adapter", "started_at"]
    readonly_fields = [f.name for f in AppVersion._meta.fields]


@admin.register(ReviewInstructions)
class ReviewInstructionsAdmin(admin.ModelAdmin):
    list_display = ["app", "version", "created_by", "created_at"]
    readonly_fields = [f.name for f in ReviewInstructions._meta.fields]
