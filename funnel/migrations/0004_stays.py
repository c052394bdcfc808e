# The time-in-stage rows (funnel.rollups_stays): one table of stays per lead and its marks.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dealercrm', '0004_jobrun_abandoned'),
        ('funnel', '0003_ladder_followup_rollups'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='StayMark',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('lead_id', models.BigIntegerField(verbose_name='lead')),
            ],
            options={
                'verbose_name': 'stay mark',
                'verbose_name_plural': 'stay marks',
                'indexes': [models.Index(fields=['lead_id'], name='staymark_lead')],
            },
        ),
        migrations.CreateModel(
            name='Stay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('lead_id', models.BigIntegerField(verbose_name='lead')),
                ('source', models.CharField(max_length=20, verbose_name='source')),
                ('channel_id', models.BigIntegerField(null=True, verbose_name='channel')),
                ('series_id', models.BigIntegerField(null=True, verbose_name='series')),
                ('first_visit_at', models.DateTimeField(verbose_name='first visit')),
                ('hold_since', models.DateTimeField(null=True, verbose_name='active at its grade since')),
                ('kind', models.CharField(choices=[('S', 'stay'), ('D', 'deal'), ('O', 'open grade')], max_length=1, verbose_name='kind')),
                ('grade', models.CharField(max_length=1, null=True, verbose_name='grade')),
                ('start_day', models.DateField(null=True, verbose_name='start day')),
                ('end_day', models.DateField(null=True, verbose_name='end day')),
                ('how', models.CharField(max_length=8, null=True, verbose_name='how it ended')),
                ('days', models.IntegerField(null=True, verbose_name='days')),
                ('first', models.BooleanField(default=False, verbose_name='first reach')),
                ('reach_days', models.IntegerField(null=True, verbose_name='days from the first visit')),
                ('consultant', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='consultant')),
                ('store', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='dealercrm.store', verbose_name='store')),
            ],
            options={
                'verbose_name': 'stay row',
                'verbose_name_plural': 'stay rows',
                'indexes': [
                    models.Index(fields=['store', 'kind', 'end_day'], include=['grade', 'how', 'days', 'start_day', 'consultant', 'source', 'channel_id', 'series_id', 'first_visit_at', 'hold_since', 'lead_id'], name='stay_store_end'),
                    models.Index(condition=models.Q(('kind', 'S')), fields=['store', 'start_day'], include=['first', 'reach_days', 'grade', 'consultant', 'source', 'channel_id', 'series_id', 'first_visit_at', 'hold_since', 'lead_id'], name='stay_store_start'),
                    models.Index(fields=['lead_id'], name='stay_lead'),
                ],
            },
        ),
    ]
