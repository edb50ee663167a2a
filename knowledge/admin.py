from django.contrib import admin

from knowledge.models import Article, ArticleRevision, Chunk, LearnedAnswer, LearnedAnswerSource


class ChunkInline(admin.TabularInline):
    model = Chunk
    extra = 0
    fields = ("ordinal", "heading", "text")
    readonly_fields = fields


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "area", "status", "updated_at")
    list_filter = ("status", "area")
    search_fields = ("title", "body")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [ChunkInline]


@admin.register(ArticleRevision)
class ArticleRevisionAdmin(admin.ModelAdmin):
    list_display = ("article", "title", "status", "created_at")


class LearnedAnswerSourceInline(admin.TabularInline):
    model = LearnedAnswerSource
    extra = 0
    fields = ("conversation", "similarity", "created_at")
    readonly_fields = fields


@admin.register(LearnedAnswer)
class LearnedAnswerAdmin(admin.ModelAdmin):
    """Read-only here: approving publishes an article, so it goes through the review page's action."""

    list_display = ("question", "status", "times_seen", "suggested_by", "decided_by", "created_at")
    list_filter = ("status",)
    search_fields = ("question", "answer")
    readonly_fields = ("question", "answer", "conversation", "suggested_by", "status", "times_seen", "decided_by",
                       "decided_at", "reject_reason", "article", "created_at")
    exclude = ("embedding",)
    inlines = [LearnedAnswerSourceInline]

    def has_add_permission(self, request) -> bool:
        return False
