from django.contrib import admin

from inbox.models import Account, Conversation, Customer, Draft, Label, Macro, Message, Outcome, Site, Team


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "allowed_origins")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    filter_horizontal = ("members",)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "plan", "mrr", "seats", "signed_up_at", "churned_at")
    list_filter = ("plan",)
    search_fields = ("name", "external_id")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "account", "is_verified", "created_at")
    search_fields = ("name", "email", "external_id")
    raw_id_fields = ("account",)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("sender_kind", "body", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "customer", "status", "handled_by", "intent", "escalation_reason", "created_at")
    list_filter = ("status", "handled_by", "channel", "escalation_reason")
    search_fields = ("subject", "intent")
    raw_id_fields = ("customer", "account", "assignee", "follow_up_of")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "sender_kind", "created_at")
    list_filter = ("sender_kind",)
    raw_id_fields = ("conversation", "author")


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "status", "created_at")
    raw_id_fields = ("conversation", "sent_message", "decided_by")


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "conversation", "author", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("conversation", "message", "author")


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "reward", "conversation", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("conversation", "message")


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ("name", "shared", "team", "created_by", "updated_at")
    list_filter = ("shared", "team")
    search_fields = ("name", "body")
    raw_id_fields = ("created_by",)
