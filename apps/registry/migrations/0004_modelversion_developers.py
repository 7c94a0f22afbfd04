"""The people who developed a model version (`ModelVersion.developers`), named at registration through
`ModelVersionDeveloper` rows. Like dataset links and claimed metrics they are registration evidence:
PostgreSQL refuses their UPDATE and DELETE with registry.0003's trigger function."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import apps.registry.models
from apps.common import evidence_triggers

# table -> columns that may change after insertion (the model's MUTABLE_FIELDS: none)
PROTECTED = {"registry_modelversiondeveloper": []}


def forwards(apps, schema_editor):
    evidence_triggers.install(schema_editor, PROTECTED)


def backwards(apps, schema_editor):
    evidence_triggers.remove(schema_editor, PROTECTED)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0003_evidence_immutable_in_postgresql'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ModelVersionDeveloper',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='developer_links', to='registry.modelversion')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'model version developer',
                'ordering': ['model_version', 'pk'],
            },
            bases=(apps.registry.models.ImmutableAfterInsertMixin, models.Model),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='developers',
            field=models.ManyToManyField(help_text='The people who developed the version (SR 11-7 inventory: developers).', related_name='developed_model_versions', through='registry.ModelVersionDeveloper', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='modelversiondeveloper',
            constraint=models.UniqueConstraint(fields=('model_version', 'user'), name='registry_model_version_developer'),
        ),
        migrations.RunPython(forwards, backwards),
    ]
