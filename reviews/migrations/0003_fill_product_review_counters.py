# Fill the product counters added by products 0005 (approved reviews per star and
# per fit) from the reviews already stored, with the rules of
# `reviews.services.product_rating_refresh`: approved reviews only.

from django.db import migrations
from django.db.models import Count, Q

STARS = (1, 2, 3, 4, 5)
FITS = ('runs_small', 'true_to_size', 'runs_large')


def fill(apps, schema_editor):
    Product = apps.get_model('products', 'Product')
    Review = apps.get_model('reviews', 'Review')
    db = schema_editor.connection.alias
    counters = {
        **{f'rating_{star}_count': Count('id', filter=Q(rating=star)) for star in STARS},
        **{f'fit_{fit}_count': Count('id', filter=Q(fit=fit)) for fit in FITS},
    }
    rows = (
        Review.objects.using(db)
        .filter(is_approved=True)
        .order_by()
        .values('product_id')
        .annotate(**counters)
    )
    for row in rows.iterator():
        product_id = row.pop('product_id')
        Product.objects.using(db).filter(pk=product_id).update(**row)


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0005_product_review_counters'),
        ('reviews', '0002_relabel_content_types'),
    ]

    operations = [
        # Backwards: nothing to undo, products 0005 drops the columns.
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
