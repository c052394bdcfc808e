import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dealercrm', '0004_jobrun_abandoned'),
        ('funnel', '0002_rollups'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='FollowUpDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='day')),
                ('n', models.IntegerField(default=0)),
                ('rejected', models.IntegerField(default=0)),
                ('author', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='author')),
                ('consultant', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='consultant')),
                ('store', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='dealercrm.store', verbose_name='store')),
            ],
            options={
                'verbose_name': 'follow-up rollup row',
                'verbose_name_plural': 'follow-up rollup rows',
                'indexes': [models.Index(fields=['store', 'day'], name='followupday_store_day')],
            },
        ),
        migrations.AlterField(
            model_name='rollupmark',
            name='kind',
            field=models.CharField(choices=[('c', 'cohort'), ('r', 're-visits'), ('l', 'promotion ladder'), ('f', 'follow-ups')], max_length=1, verbose_name='kind'),
        ),
        migrations.CreateModel(
            name='LadderDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='day')),
                ('prev_day', models.DateField(null=True, verbose_name='previous day')),
                ('reach_day', models.DateField(null=True, verbose_name='day A was reached')),
                ('grade', models.CharField(max_length=1, verbose_name='grade')),
                ('opened', models.IntegerField(default=0)),
                ('closed', models.IntegerField(default=0)),
                ('promoted', models.IntegerField(default=0)),
                ('reached', models.IntegerField(default=0)),
                ('reach_closed', models.IntegerField(default=0)),
                ('consultant', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='consultant')),
                ('store', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='dealercrm.store', verbose_name='store')),
            ],
            options={
                'verbose_name': 'ladder rollup row',
                'verbose_name_plural': 'ladder rollup rows',
                'indexes': [models.Index(fields=['store', 'day'], name='ladderday_store_day')],
            },
        ),
    ]
