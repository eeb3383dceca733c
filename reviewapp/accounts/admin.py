from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils import timezone

from .models import ApiToken, Group, User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "is_placeholder", "provisioned", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "is_placeholder"]
    search_fields = ["email", "name", "scim_external_id"]
    readonly_fields = ["last_login", "date_joined", "scim_id", "scim_external_id", "scim_username"]
    filter_horizontal = ["scim_groups", "user_permissions"]
    actions = ["deactivate"]
    fieldsets = [
        (None, {"fields": ["email", "name", "password"]}),
        ("Status", {"fields": ["is_active", "is_placeholder", "is_staff", "is_superuser"]}),
        ("Groups", {"fields": ["scim_groups"]}),
        ("Provisioning", {"fields": ["scim_id", "scim_external_id", "scim_username"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]})
    ]

    @admin.display(boolean=True, description="SCIM")
    def provisioned(self, user: User) -> bool:
        return user.scim_username is not None

    @admin.action(description="Deactivate (keeps everything they wrote)")
    def deactivate(self, request, queryset):
        # Never delete people: their feedback and requests must stay attributed.
        count = queryset.exclude(pk=request.user.pk).update(is_active=False)
        self.message_user(request, f"Deactivated {count} user(s).", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "member_count", "scim_external_id", "created_at"]
    list_filter = ["source"]
    search_fields = ["name", "scim_external_id"]
    readonly_fields = ["scim_id", "scim_external_id", "scim_display_name", "created_at"]

    @admin.display(description="members")
    def member_count(self, group: Group) -> int:
        return group.user_set.count()


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "hint", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__email", "hint"]
    # Tokens are issued by their owner (shown once); here an admin can only see and revoke them.
    readonly_fields = ["user", "name", "token_hash", "hint", "created_at", "last_used_at", "expires_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke now")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
