"""Demo order history for `manage.py seed_demo`: about 90 days of orders in both markets.

Every order is placed through the real cart and checkout services and moved
through the real status service, then back-dated: the analytics screens get data
that obeys every rule a live order does. Stock is lifted for the run and put back
to the catalogue's values afterwards, so the demo shop keeps its designed stock
levels (low-stock and sold-out sizes included). Notifications and snapshot
recomputes are held back during the run; the seeder rebuilds snapshots once at
the end. Orders are made once: if the demo shoppers already have orders, nothing
is added.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import F
from django.utils import timezone

from demo.returns import seed_returns
from main.markets import Market, market_config
from orders import events
from orders.models import Order, OrderStatus, OrderStatusHistory
from orders.services.checkout import order_checkout
from orders.services.transitions import CUSTOMER_CANCELLABLE, order_transition
from products.models import SKU, Product
from products.services.cart import cart_clear, cart_item_add
from products.services.listing import listing_sync_stock
from users.models import Address, User

S = OrderStatus
DAYS = 90
SMALL_DAYS = 7
SHOPPERS_PER_MARKET = 24
_STOCK_LIFT = 10_000

# Demo shoppers besides the named demo customers. KG: +996 700 300 xxx; US: 718-555-01xx
# (the 555-01xx range is reserved for fiction).
SHOPPER_NAMES = {
    Market.KG: [("Aizada", "Toktogulova"), ("Bektur", "Asanov"), ("Cholpon", "Alieva"),
                ("Daniyar", "Usenov"), ("Elnura", "Bakirova"), ("Farhad", "Kasymov")],
    Market.US: [("Emily", "Clark"), ("Michael", "Reed"), ("Olivia", "Hughes"),
                ("James", "Porter"), ("Ava", "Bennett"), ("Noah", "Foster")],
}  # fmt: skip
CITIES = {
    Market.KG: [("Bishkek", "Chuy Avenue"), ("Osh", "Lenin Street"), ("Karakol", "Abdrakhmanov")],
    Market.US: [("New York, NY", "Broadway"), ("Austin, TX", "Congress Ave"),
                ("Seattle, WA", "Pine St")],
}  # fmt: skip


@dataclass(frozen=True)
class DemoOrdersResult:
    orders: int
    first_day: date | None


def _shopper_phone(market: str, index: int) -> str:
    return f"+996700300{index:03d}" if market == Market.KG else f"+1718555{100 + index:04d}"


def seed_shoppers(*, small: bool = False) -> dict[str, list[User]]:
    """The demo shoppers of each market (created when missing)."""
    count = 4 if small else SHOPPERS_PER_MARKET
    shoppers: dict[str, list[User]] = {}
    for market in Market.values:
        phones = [_shopper_phone(market, i) for i in range(count)]
        existing = User.objects.in_bulk(phones, field_name="phone")
        users, addresses = [], []
        for index, phone in enumerate(phones):
            user = existing.get(phone)
            if user is None:
                first, last = SHOPPER_NAMES[market][index % len(SHOPPER_NAMES[market])]
                user = User.objects.create_user(phone, first_name=first, last_name=last)
                fields = _inline_address(random.Random(phone), user)
                addresses.append(Address(user=user, label="Home", is_default=True, **fields))
            users.append(user)
        Address.objects.bulk_create(addresses)
        shoppers[market] = users
    return shoppers


def _inline_address(rng: random.Random, user: User) -> dict[str, str]:
    city, street = rng.choice(CITIES[user.market])
    return {
        "recipient_name": user.get_full_name() or "Demo shopper",
        "phone": user.phone,
        "city": city,
        "street": street,
        "building": str(rng.randint(1, 300)),
        "apartment": str(rng.randint(1, 90)),
        "postal_code": "720000" if user.market == Market.KG else "10001",
    }


def _plan_statuses(rng: random.Random, age_days: float) -> list[str]:
    """The statuses an order of this age has gone through after `pending`."""
    path = [S.CONFIRMED, S.PROCESSING, S.SHIPPED, S.DELIVERED]
    if age_days >= 6:
        reach = 4
    elif age_days >= 3:
        reach = rng.choice([2, 3, 3, 4, 4])
    elif age_days >= 1:
        reach = rng.choice([1, 2, 2, 3])
    else:
        reach = rng.choice([0, 0, 0, 1, 1, 2])
    steps = path[:reach]
    if rng.random() < 0.1:  # about one order in ten is cancelled before it ships
        steps = [*steps[: rng.randint(0, min(len(steps), 2))], S.CANCELLED]
    return steps


_STEP_HOURS = {
    S.CONFIRMED: (1, 4),
    S.PROCESSING: (2, 10),
    S.SHIPPED: (12, 30),
    S.DELIVERED: (24, 72),
    S.CANCELLED: (1, 20),
}


def _backdate(order: Order, created: datetime) -> None:
    Order.objects.filter(pk=order.pk).update(created_at=created, updated_at=created)
    OrderStatusHistory.objects.filter(order=order).update(created_at=created)


def seed_orders(
    customers: list[User], *, small: bool = False, seed: int = 2026, now: datetime | None = None
) -> DemoOrdersResult:
    """About 90 days (7 with `small`) of orders per market; returns how many were made."""
    now = now or timezone.now()
    shoppers = seed_shoppers(small=small)
    buyers = {
        market: [c for c in customers if c.market == market] + shoppers[market]
        for market in Market.values
    }
    every_buyer = [user.pk for users in buyers.values() for user in users]
    history_exists = Order.objects.filter(user_id__in=every_buyer).exists()

    rng = random.Random(seed)
    staff = User.objects.filter(is_superuser=True).order_by("pk").first()
    catalogue = {
        market: list(
            SKU.objects.filter(
                is_active=True, product__in=Product.objects.sellable_in(market)
            ).values_list("pk", flat=True)
        )
        for market in Market.values
    }
    original_stock = dict(SKU.objects.values_list("pk", "stock"))
    SKU.objects.update(stock=F("stock") + _STOCK_LIFT)
    try:
        if history_exists:
            # A later run: the history stays, but every market shows orders today.
            made = _place_today(rng, buyers, catalogue, staff, now=now, small=small)
        else:
            made = _place_orders(rng, buyers, catalogue, staff, now=now, small=small)
            # While stock is lifted: exchanges hold units like any return.
            seed_returns(staff=staff, now=now, seed=seed)
    finally:
        stock_now = SKU.objects.in_bulk(list(original_stock))
        for pk, sku in stock_now.items():
            sku.stock = original_stock[pk]
        SKU.objects.bulk_update(stock_now.values(), ["stock"], batch_size=500)
        listing_sync_stock({sku.product_id for sku in stock_now.values()})
    if history_exists:
        return DemoOrdersResult(orders=made, first_day=None)
    first_day = (now - timedelta(days=SMALL_DAYS if small else DAYS)).date()
    return DemoOrdersResult(orders=made, first_day=first_day)


def _place_orders(rng, buyers, catalogue, staff, *, now: datetime, small: bool) -> int:
    days = SMALL_DAYS if small else DAYS
    made = 0
    with events.quiet():
        for market in Market.values:
            zone = market_config(market).time_zone
            today = now.astimezone(zone).date()
            for offset in range(days, -1, -1):
                day = today - timedelta(days=offset)
                weekend = day.weekday() >= 5
                count = rng.randint(2, 5) + (2 if weekend else 0)
                if small:
                    count = 1
                for _ in range(count):
                    local = datetime.combine(day, time(rng.randint(8, 22), rng.randint(0, 59)))
                    created = local.replace(tzinfo=zone)
                    if created >= now and day == today:
                        # Early in the local day: today's orders fall between midnight and now.
                        created = _earlier_today(rng, zone, now)
                    if created >= now or not catalogue[market]:
                        continue
                    buyer = rng.choice(buyers[market])
                    made += _one_order(rng, buyer, catalogue[market], created, now, staff)
    return made


def _earlier_today(rng: random.Random, zone, now: datetime) -> datetime:
    """A moment between the market's last local midnight and `now`."""
    midnight = datetime.combine(now.astimezone(zone).date(), time(0)).replace(tzinfo=zone)
    return midnight + (now - midnight) * rng.random()


def _place_today(rng, buyers, catalogue, staff, *, now: datetime, small: bool) -> int:
    """Orders placed earlier today in every market that has none yet (a later `seed_demo`)."""
    made = 0
    with events.quiet():
        for market in Market.values:
            zone = market_config(market).time_zone
            midnight = datetime.combine(now.astimezone(zone).date(), time(0)).replace(tzinfo=zone)
            placed_today = Order.objects.filter(
                market=market, created_at__gte=midnight, is_replacement=False
            ).exists()
            if placed_today or not catalogue[market]:
                continue
            for _ in range(1 if small else 3):
                buyer = rng.choice(buyers[market])
                created = _earlier_today(rng, zone, now)
                made += _one_order(rng, buyer, catalogue[market], created, now, staff)
    return made


def _one_order(
    rng: random.Random,
    buyer: User,
    skus: list[int],
    created: datetime,
    now: datetime,
    staff: User | None,
) -> int:
    cart_clear(user=buyer)
    for sku_id in rng.sample(skus, k=min(len(skus), rng.choice([1, 1, 1, 2, 2, 3]))):
        cart_item_add(
            user=buyer, market=buyer.market, sku_id=sku_id, quantity=rng.choice([1, 1, 1, 2])
        )
    # Mostly the saved default address; sometimes one typed in at checkout.
    address = buyer.addresses.order_by("-is_default", "pk").first()
    if address and rng.random() < 0.8:
        target = {"address_id": address.pk}
    else:
        target = {"address": _inline_address(rng, buyer)}
    order = order_checkout(
        user=buyer,
        payment_method="cash_on_delivery",
        comment=rng.choice(["", "", "", "Call before delivery", "Leave at the door"]),
        **target,
    ).order
    _backdate(order, created)

    at = created
    age_days = (now - created).total_seconds() / 86400
    for status in _plan_statuses(rng, age_days):
        low, high = _STEP_HOURS[status]
        at = at + timedelta(hours=rng.uniform(low, high))
        if at >= now:
            break
        # Customers may cancel only early (the API's rule); later cancellations are the shop's.
        by_customer = (
            status == S.CANCELLED and order.status in CUSTOMER_CANCELLABLE and rng.random() < 0.6
        )
        order = order_transition(
            order=order,
            to_status=status,
            actor=buyer if by_customer else staff,
            note="Changed my mind" if by_customer else "",
            by_manager=not by_customer,
            allowed_from=CUSTOMER_CANCELLABLE if by_customer else None,
            at=at,
        )
    return 1
