# The per-group first follow-up rule (issue 14, item 9): a new customer is called back within N hours of the first
# visit (default 24, at a working hour), then the grade's cadence applies.

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("dealercrm", "0003_jobs"),
        ("leads", "0012_phone_unique_among_holders"),
    ]

    operations = [
        migrations.CreateModel(
            name="FollowUpPolicy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("first_follow_up_hours", models.PositiveSmallIntegerField(
                    default=24, validators=[django.core.validators.MinValueValidator(1),
                                            django.core.validators.MaxValueValidator(168)],
                    verbose_name="first follow-up within (hours)")),
                ("workday_start_hour", models.PositiveSmallIntegerField(
                    default=9, validators=[django.core.validators.MaxValueValidator(23)],
                    verbose_name="working day starts (hour)")),
                ("workday_end_hour", models.PositiveSmallIntegerField(
                    default=21, validators=[django.core.validators.MinValueValidator(1),
                                            django.core.validators.MaxValueValidator(24)],
                    verbose_name="working day ends (hour)")),
                ("group", models.OneToOneField(
                    on_delete=django.db.models.deletion.CASCADE, related_name="follow_up_policy",
                    to="dealercrm.dealergroup", verbose_name="dealer group")),
            ],
            options={"verbose_name": "follow-up policy", "verbose_name_plural": "follow-up policies"},
        ),
    ]
