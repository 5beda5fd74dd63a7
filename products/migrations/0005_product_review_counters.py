# Approved reviews per star and per fit, denormalised on the product next to
# rating_avg/reviews_count so the catalogue never reads the reviews tables.
# Filled from existing reviews by reviews/migrations/0003_fill_product_review_counters.py;
# kept up to date by `reviews.services.product_rating_refresh`.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0004_listing_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='product',
            name=name,
            field=models.PositiveIntegerField(default=0),
        )
        for name in (
            'rating_1_count',
            'rating_2_count',
            'rating_3_count',
            'rating_4_count',
            'rating_5_count',
            'fit_runs_small_count',
            'fit_true_to_size_count',
            'fit_runs_large_count',
        )
    ]
