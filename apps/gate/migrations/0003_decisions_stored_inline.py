"""Gate decisions are kept inline in their heap page instead of moving their attestation to TOAST.

A decision row is about 2.4 KB, most of it the DSSE envelope (about 1.9 KB of base64 and signature),
just over PostgreSQL's 2 KB toasting threshold: every decision tried to compress the envelope (pglz
rarely saves the 25 % it needs on base64) and then wrote it out of line, one more heap tuple, index entry
and WAL record per decision. With toast_tuple_target = 4080 rows up to 4 KB stay whole and
uncompressed; larger ones (a big pipeline context) are toasted as before.
"""

from django.db import migrations


def keep_inline(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE gate_gatedecision SET (toast_tuple_target = 4080)")


def restore_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE gate_gatedecision RESET (toast_tuple_target)")


class Migration(migrations.Migration):
    dependencies = [("gate", "0002_decision_indexes")]

    operations = [migrations.RunPython(keep_inline, restore_default)]
