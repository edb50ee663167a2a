from django.contrib import admin

from agents.models import Intent, IntentExample, ModelVersion


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ("name", "human_only", "created_at")
    search_fields = ("name",)


@admin.register(IntentExample)
class IntentExampleAdmin(admin.ModelAdmin):
    list_display = ("id", "intent", "source", "created_at")
    list_filter = ("source",)
    search_fields = ("text",)
    raw_id_fields = ("message", "customer")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "n_examples", "trained_at")
    list_filter = ("kind", "status")
    exclude = ("blob",)
