# Review and ReviewImage now belong to the `reviews` app (reviews/migrations/0001_initial.py,
# which recreated them in Django's state on the same tables). Drop them from this
# app's state only: the tables `orders_review` and `orders_reviewimage` and their rows stay.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0004_market_total_index'),
        ('reviews', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='ReviewImage'),
                migrations.DeleteModel(name='Review'),
            ],
            database_operations=[],
        ),
    ]
