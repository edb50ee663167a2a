# Learned answers: suggestions from resolved conversations, approved into articles.

import django.db.models.deletion
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0001_initial'),
        ('knowledge', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LearnedAnswer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('question', models.TextField(help_text="The customer's first message, redacted.")),
                ('answer', models.TextField(help_text='The agent reply that resolved it, redacted.')),
                ('embedding', pgvector.django.vector.VectorField(dimensions=384, editable=False, null=True)),
                ('status', models.CharField(choices=[('suggested', 'Suggested'), ('approved', 'Approved'), ('rejected', 'Rejected')], db_index=True, default='suggested', max_length=10)),
                ('times_seen', models.PositiveIntegerField(default=1)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('reject_reason', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('article', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='learned_answer', to='knowledge.article')),
                ('conversation', models.ForeignKey(blank=True, help_text='Where the answer came from.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='learned_answers', to='inbox.conversation')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('suggested_by', models.ForeignKey(blank=True, help_text='The agent who wrote the reply.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-times_seen', '-created_at'],
            },
        ),
        migrations.CreateModel(
            name='LearnedAnswerSource',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('similarity', models.FloatField(blank=True, help_text="To the suggestion's question, when merged.", null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('conversation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='learned_answer_source', to='inbox.conversation')),
                ('learned_answer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='sources', to='knowledge.learnedanswer')),
            ],
        ),
        migrations.AddIndex(
            model_name='learnedanswer',
            index=models.Index(fields=['status', '-times_seen'], name='learned_status_seen'),
        ),
    ]
