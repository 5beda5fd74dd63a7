from decimal import Decimal

import factory

from orders.models import Order, OrderItem
from users.tests.factories import UserFactory


class OrderFactory(factory.django.DjangoModelFactory):
    """A KG order with no items; totals are set by the caller when they matter."""

    class Meta:
        model = Order

    order_number = factory.Sequence(lambda n: f"KG-TEST{n:04d}")
    user = factory.SubFactory(UserFactory)
    market = factory.LazyAttribute(lambda o: o.user.market)
    currency = factory.LazyAttribute(lambda o: "KGS" if o.market == "KG" else "USD")
    shipping_recipient = "Aida Bekova"
    shipping_phone = "+996700123456"
    shipping_city = "Bishkek"
    shipping_street = "Chui Ave"
    shipping_building = "120"
    subtotal = Decimal("2580.00")
    total = Decimal("2580.00")


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    product_name = "Linen shirt"
    sku_code = factory.Sequence(lambda n: f"SNAP-{n:05d}")
    size = "M"
    color = "White"
    unit_price = Decimal("1290.00")
    quantity = 2
    line_total = Decimal("2580.00")
