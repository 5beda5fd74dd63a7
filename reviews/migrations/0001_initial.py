# Moves Review and ReviewImage from `orders` to this app without touching the database:
# the tables keep their names (`orders_review`, `orders_reviewimage`), as do their
# columns, constraints and indexes. Only Django's state changes here; `orders`
# 0005_move_reviews_to_reviews_app then drops the models from its own state.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('orders', '0004_market_total_index'),
        ('products', '0004_listing_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name='Review',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('rating', models.PositiveSmallIntegerField()),
                ('title', models.CharField(blank=True, max_length=200)),
                ('text', models.TextField(blank=True)),
                ('fit', models.CharField(blank=True, choices=[('runs_small', 'Runs small'), ('true_to_size', 'True to size'), ('runs_large', 'Runs large')], max_length=20)),
                ('is_approved', models.BooleanField(default=False)),
                ('order_item', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='reviews', to='orders.orderitem')),
                ('product', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to='products.product')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'orders_review',
                'ordering': ('-created_at', '-id'),
                'indexes': [models.Index(fields=['product', 'is_approved', 'created_at'], name='review_product_approved_idx')],
                'constraints': [models.UniqueConstraint(fields=('user', 'product'), name='review_user_product_unique'), models.CheckConstraint(condition=models.Q(('rating__gte', 1), ('rating__lte', 5)), name='review_rating_range')],
            },
        ),
        migrations.CreateModel(
            name='ReviewImage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('image', models.ImageField(upload_to='reviews/')),
                ('sort_order', models.PositiveIntegerField(default=0)),
                ('review', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='images', to='reviews.review')),
            ],
            options={
                'db_table': 'orders_reviewimage',
                'ordering': ('review', 'sort_order', 'id'),
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[]),
    ]
