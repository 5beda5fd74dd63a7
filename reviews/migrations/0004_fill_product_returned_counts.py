# Fill the product counters added by products 0009 (size-return lines per product)
# from the returns already stored, with the rules of
# `reviews.services.product_fit_refresh`: lines with a size reason, in returns
# that are not rejected or cancelled, one per line whatever its quantity.

from django.db import migrations
from django.db.models import Count, Q

FIELDS = {
    'size_too_small': 'returned_too_small_count',
    'size_too_large': 'returned_too_large_count',
}
DEAD = ('rejected', 'cancelled')


def fill(apps, schema_editor):
    Product = apps.get_model('products', 'Product')
    ReturnItem = apps.get_model('orders', 'ReturnItem')
    db = schema_editor.connection.alias
    rows = (
        ReturnItem.objects.using(db)
        .filter(reason__in=list(FIELDS), order_item__product__isnull=False)
        .exclude(return_request__status__in=DEAD)
        .order_by()
        .values('order_item__product_id')
        .annotate(**{field: Count('id', filter=Q(reason=reason)) for reason, field in FIELDS.items()})
    )
    for row in rows.iterator():
        product_id = row.pop('order_item__product_id')
        Product.objects.using(db).filter(pk=product_id).update(**row)


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0009_product_returned_size_counts'),
        ('orders', '0007_returns'),
        ('reviews', '0003_fill_product_review_counters'),
    ]

    operations = [
        # Backwards: nothing to undo, products 0009 drops the columns.
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
