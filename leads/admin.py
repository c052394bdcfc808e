from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Channel, GradeRule, Lead


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "name_en", "source", "code", "is_active", "sort_order"]
    list_filter = ["source", "is_active"]
    list_editable = ["is_active", "sort_order"]


@admin.register(GradeRule)
class GradeRuleAdmin(admin.ModelAdmin):
    list_display = ["group", "grade", "follow_up_days", "max_dwell_days", "meaning"]
    list_filter = ["group"]


@admin.register(Lead)
class LeadAdmin(SimpleHistoryAdmin):
    """Read-mostly: leads change through the app's services (history, versions); the admin is for inspection."""

    list_display = ["name", "store", "assigned_to", "grade", "status", "first_visit_at", "next_follow_up_at"]
    list_filter = ["status", "grade", "source", "store"]
    search_fields = ["name", "phone"]
    list_select_related = ["store", "assigned_to"]
    readonly_fields = [f.name for f in Lead._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
