"""Admin form pieces of the catalogue: every uploaded product image goes through Pillow.

`products.admin` wires them: `ProductForm` takes `ProductImageUploadMixin`
(the main image) and the gallery inline uses `ProductImageForm`. A new upload
is validated and normalised by `products.services.images.product_image_clean`
(JPEG, PNG or WebP; size and pixel limits; orientation applied; metadata
stripped) and replaces the file staff sent; an unchanged or cleared field
passes as it is. The worker then makes the renditions (`products.tasks`).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile

from main.exceptions import InvalidInput
from products.models import ProductImage
from products.services.images import product_image_clean

_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def uploaded_image_clean(value):
    """A new upload cleaned and re-encoded (a form field's value); anything else unchanged."""
    if not isinstance(value, UploadedFile):
        return value
    try:
        clean = product_image_clean(value)
    except InvalidInput as error:
        raise forms.ValidationError(str(error.detail), code=error.code) from None
    stem = PurePosixPath(value.name or "image").stem or "image"
    return SimpleUploadedFile(
        f"{stem}.{clean.extension}", clean.content, content_type=_CONTENT_TYPES[clean.extension]
    )


class ProductImageUploadMixin:
    """For a `Product` model form: the main image is cleaned like every catalogue upload."""

    def clean_main_image(self):
        return uploaded_image_clean(self.cleaned_data.get("main_image"))


class ProductImageForm(forms.ModelForm):
    """The gallery inline's form: the image cleaned, the colour it shows (blank: all)."""

    class Meta:
        model = ProductImage
        fields = ("image", "alt_text", "color", "sort_order")

    def clean_image(self):
        return uploaded_image_clean(self.cleaned_data.get("image"))
