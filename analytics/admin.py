from django.contrib import admin

from analytics import models

for model in (models.DailyRollup, models.RollupState, models.TopicCluster, models.SpikeAlert, models.InsightRun):
    admin.site.register(model)
