"""The dataset versions a dataset version was derived from (`DatasetVersion.derived_from`), named at
registration through `DatasetVersionSource` rows. Like a model version's dataset links they are
registration evidence: PostgreSQL refuses their UPDATE and DELETE with registry.0003's trigger function."""

import apps.registry.models
import django.db.models.deletion
from django.db import migrations, models

from apps.common import evidence_triggers

# table -> columns that may change after insertion (the model's MUTABLE_FIELDS: none)
PROTECTED = {"registry_datasetversionsource": []}


def forwards(apps, schema_editor):
    evidence_triggers.install(schema_editor, PROTECTED)


def backwards(apps, schema_editor):
    evidence_triggers.remove(schema_editor, PROTECTED)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0004_modelversion_developers'),
    ]

    operations = [
        migrations.CreateModel(
            name='DatasetVersionSource',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('dataset_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='source_links', to='registry.datasetversion')),
                ('source', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='derived_links', to='registry.datasetversion')),
            ],
            options={
                'verbose_name': 'dataset version source',
                'ordering': ['dataset_version', 'pk'],
            },
            bases=(apps.registry.models.ImmutableAfterInsertMixin, models.Model),
        ),
        migrations.AddField(
            model_name='datasetversion',
            name='derived_from',
            field=models.ManyToManyField(help_text='The dataset versions this one was derived from, as named at registration.', related_name='derivatives', through='registry.DatasetVersionSource', through_fields=('dataset_version', 'source'), to='registry.datasetversion'),
        ),
        migrations.AddConstraint(
            model_name='datasetversionsource',
            constraint=models.UniqueConstraint(fields=('dataset_version', 'source'), name='registry_dataset_version_source'),
        ),
        migrations.AddConstraint(
            model_name='datasetversionsource',
            constraint=models.CheckConstraint(condition=models.Q(('dataset_version', models.F('source')), _negated=True), name='registry_dataset_version_source_not_itself'),
        ),
        migrations.RunPython(forwards, backwards),
    ]
