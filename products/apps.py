from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_delete


class ProductsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "products"
    verbose_name = "Products"

    def ready(self):
        # The catalogue's read model follows every model write of its sources.
        from products.models import SKU, Product, ProductImage, ProductPrice
        from products.services.images import on_image_deleted, on_image_saved
        from products.services.listing import (
            on_product_deleted,
            on_product_deleting,
            on_source_deleted,
            on_source_saved,
        )

        for model in (Product, ProductPrice, SKU, ProductImage):
            post_save.connect(
                on_source_saved, sender=model, dispatch_uid=f"listing-{model.__name__}"
            )
        for model in (ProductPrice, SKU, ProductImage):
            post_delete.connect(
                on_source_deleted, sender=model, dispatch_uid=f"listing-del-{model.__name__}"
            )
        # A saved image without renditions queues the worker (after commit, through the outbox).
        # A deleted product or gallery image takes its rendition files along (after commit).
        for model in (Product, ProductImage):
            post_save.connect(
                on_image_saved, sender=model, dispatch_uid=f"renditions-{model.__name__}"
            )
            post_delete.connect(
                on_image_deleted, sender=model, dispatch_uid=f"renditions-del-{model.__name__}"
            )
        pre_delete.connect(on_product_deleting, sender=Product, dispatch_uid="listing-total-pre")
        post_delete.connect(on_product_deleted, sender=Product, dispatch_uid="listing-total-post")
