"""The editor's form: field validation only; the write goes through knowledge.actions."""

from django import forms

from knowledge.models import Area, ArticleStatus


class ArticleForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 22}), help_text="Markdown.", strip=False)
    area = forms.ChoiceField(choices=Area.choices, initial=Area.OTHER)
    tags = forms.CharField(required=False, max_length=500, help_text="Comma-separated.")
    source_url = forms.URLField(required=False, max_length=200, assume_scheme="https", label="Source URL")

    def clean_body(self) -> str:
        # Browsers post textareas with CRLF; store LF so re-saves and re-imports compare equal.
        return self.cleaned_data["body"].replace("\r\n", "\n")

    def clean_tags(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class FilterForm(forms.Form):
    """List filters; invalid values are ignored rather than erroring, as on any search page."""

    q = forms.CharField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *ArticleStatus.choices],
                               widget=forms.Select(attrs={"aria-label": "Status"}))
    area = forms.ChoiceField(required=False, choices=[("", "Any area"), *Area.choices],
                             widget=forms.Select(attrs={"aria-label": "Area"}))
