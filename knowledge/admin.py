from django.contrib import admin

from knowledge.models import Article, ArticleRevision, Chunk


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
