# The models moved from `orders` (0001_initial): move their content types too, so
# the admin permissions granted on them (reviews.change_review, …) and the admin
# log entries keep pointing at them. A fresh database has no content types yet
# (they are created after `migrate`), so there is nothing to do there.

from django.db import migrations

MODELS = ('review', 'reviewimage')


def relabel(apps, schema_editor, *, old, new):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    for model in MODELS:
        if ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            continue  # already created for the new label: leave both alone
        ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    relabel(apps, schema_editor, old='orders', new='reviews')


def backwards(apps, schema_editor):
    relabel(apps, schema_editor, old='reviews', new='orders')


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('reviews', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=True),
    ]
