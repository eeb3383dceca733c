from django.contrib import admin

from .models import Draft, QueueItem, Reservation, ReviewQueue


@admin.register(ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    list_display = ["name", "app", "overlap", "assignment", "blind", "created_at"]
    list_filter = ["assignment", "blind"]
    search_fields = ["name", "app__slug"]
    filter_horizontal = ["reviewers"]


@admin.register(QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    list_display = ["queue", "position", "request", "added_at"]
    raw_id_fields = ["queue", "request"]


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["item", "slot", "reviewer", "claimed_at", "expires_at", "done_at"]
    raw_id_fields = ["item", "reviewer"]


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ["item", "reviewer", "updated_at"]
    raw_id_fields = ["item", "reviewer"]
