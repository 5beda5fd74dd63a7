"""Card payments under real concurrency (SPEC §4 and §8, issue 15).

Four actors change a card order: Stripe's webhook (an authorisation arriving), the
hold-expiry task, the customer (cancel) and a manager (status change, cancel). Each
race test lets two of them loose on the same order in real threads, each with its own
PostgreSQL connection, for five rounds with fresh orders (one side or the other gets
a head start each round, so either can win), and after every round checks what must
hold whoever won:

* stock + the units of live (not cancelled) orders is constant per SKU: a cancelled
  order's stock came back exactly once (and was taken again on a resume);
* no order is shipped without its payment captured (`succeeded`, here and at Stripe);
* no cancelled order has money held: none of its intents is `requires_capture` at the
  fake Stripe, and our `Payment` rows say what Stripe says, for every intent;
* `Order.payment_status` is what its payment makes it (`payment_status_of`);
* the history has exactly one row per successful transition and is a valid chain
  ending in the order's status; each successful manager action logged one row;
* every thread either succeeded or raised an `ApplicationError` with an expected code
  (409 `invalid_transition` or `payment_required`; 503 `payment_provider_unavailable`
  in the round where Stripe is made to fail), never anything else;
* at most one payment per order is not `canceled`.

Then the webhooks of everything the fake Stripe did (the `canceled` and `succeeded`
events our own calls caused) are delivered too, and all of it is checked again.

Real threads need PostgreSQL's row locks (SQLite has one writer and no
SELECT ... FOR UPDATE): the race tests are skipped there. The after-commit side
effects (notifications, snapshot recomputes) are switched off with `events.quiet()`:
they run after the commit, outside the order lock, cost ~0.3 s per transition, and
`test_events` covers them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone

from main.exceptions import ApplicationError
from orders import events
from orders.models import Order, OrderItem, OrderStatus, OrderStatusHistory, Payment
from orders.payments.fake_stripe import FakeStripe, FakeStripeError
from orders.services import payment_events
from orders.services.payment_events import payment_hold_expire, webhook_receive
from orders.services.payments import payment_status_of
from orders.services.transitions import TRANSITIONS, order_cancel_by_customer
from orders.tests.helpers import checkout, fill_cart, priced_sku
from products.models import SKU
from store_manager.models import ManagerActivityLog, StoreManager
from store_manager.services.activity import RequestMeta
from store_manager.services.orders import (
    manager_order_cancel,
    manager_order_resume,
    manager_order_status_change,
)
from store_manager.tests.manager_api_support import make_manager
from users.tests.factories import UserFactory

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="real concurrent transactions need PostgreSQL row locks (SQLite has one writer)",
)

S = OrderStatus
ROUNDS = 5
# (delay of the first actor, delay of the second) after the barrier, per round: a head
# start for one side or the other, so that each side wins some rounds (also among the
# even and among the odd rounds, which some tests give different setups).
STAGGER = [(0, 0), (0, 0.03), (0.03, 0), (0.03, 0), (0, 0.03)]
# What a losing thread may be told; anything else fails the test.
REFUSALS = frozenset({"invalid_transition", "payment_required"})
AUTHORISED = "payment_intent.amount_capturable_updated"
RESUME_NOTE = "payment authorised after the hold expired"
_phones = itertools.count(7000)


# --------------------------------------------------------------------------- threads


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def refused(self, *codes: str) -> bool:
        return isinstance(self.error, ApplicationError) and self.error.code in codes


def race(*actors: Callable[[], Any], delays: tuple[float, ...] = ()) -> list[Outcome]:
    """Run the actors in real threads released together (each after its delay)."""
    barrier = threading.Barrier(len(actors))
    outcomes = [Outcome() for _ in actors]

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            if delays and delays[index]:
                time.sleep(delays[index])
            with events.quiet():  # a thread starts with its own context: quiet it here
                outcomes[index].result = actors[index]()
        except BaseException as error:  # the test judges every error
            outcomes[index].error = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return outcomes


# --------------------------------------------------------------------------- the shop


@dataclass
class Shop:
    """One test's world: two SKUs, a US customer, a US manager and the fake Stripe."""

    fake: FakeStripe
    skus: list[SKU]
    initial_stock: dict[int, int]
    customer: Any
    manager: StoreManager
    orders: list[Order] = field(default_factory=list)
    # Per order: successful transitions, manager actions and resumes seen so far.
    transitions: dict[int, int] = field(default_factory=dict)
    manager_actions: dict[int, int] = field(default_factory=dict)
    resumes: dict[int, int] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)  # event ids sent to our webhook

    # -- arranging (main thread) ------------------------------------------------------------

    def new_order(self, *, expired: bool = False) -> Order:
        """A card order placed through checkout, its intent made at the fake Stripe.

        Its payment is aged (last heard of 45 minutes ago: the card is confirmed well
        after the checkout) and with `expired` its hold ran out a minute ago.
        """
        fill_cart(self.customer, (self.skus[0], 2), (self.skus[1], 1))
        with events.quiet():
            order = checkout(self.customer, payment_method="card").order
        payment = Payment.objects.get(order=order)
        assert payment.provider_ref, "checkout made no intent at the fake Stripe"
        assert self.fake.intent(payment.provider_ref)["status"] == "requires_payment_method"
        now = timezone.now()
        Payment.objects.filter(pk=payment.pk).update(
            synced_at=now - timedelta(minutes=45),
            expires_at=now - timedelta(minutes=1) if expired else payment.expires_at,
        )
        self.orders.append(order)
        self.transitions[order.pk] = self.manager_actions[order.pk] = self.resumes[order.pk] = 0
        return order

    def ref(self, order: Order) -> str:
        """The order's intent: its first payment's (the only one with an intent here)."""
        return Payment.objects.filter(order=order).order_by("id").first().provider_ref

    def intent_status(self, order: Order) -> str:
        return self.fake.intent(self.ref(order))["status"]

    def confirm(self, order: Order) -> bool:
        """What Stripe.js does: the card is authorised. False: the intent was cancelled
        (by the shop, first), Stripe refuses to confirm it and sends no event."""
        try:
            self.fake.confirm(self.ref(order), "authorized")
        except FakeStripeError as error:
            refused = error
        else:
            return True
        assert refused.code == "payment_intent_unexpected_state", refused
        assert self.intent_status(order) == "canceled"
        return False

    def authorisation_event(self, order: Order, *, again: bool = False) -> dict:
        """The event Stripe made when the card was authorised (`again`: a later one, new id,
        of the same authorised state, as Stripe may send)."""
        ref = self.ref(order)
        event = next(
            e
            for e in reversed(self.fake.events)
            if e["type"] == AUTHORISED and e["data"]["object"]["id"] == ref
        )
        return self.fake.event(AUTHORISED, event["data"]["object"]) if again else event

    def deliver(self, event: dict) -> str:
        self.delivered.add(event["id"])
        body, signature = self.fake.signed(event)
        return webhook_receive(provider_name="stripe", body=body, signature=signature)

    def authorise(self, order: Order) -> None:
        """Before a race: the card authorised and its webhook applied."""
        assert self.confirm(order)
        with events.quiet():
            assert self.deliver(self.authorisation_event(order)) == "applied"
        order.refresh_from_db()
        assert order.payment_status == "authorized"

    def manager_moves(self, order: Order, *statuses: str) -> None:
        """Before a race: the manager moves the order along."""
        for status in statuses:
            with events.quiet():
                manager_order_status_change(
                    manager=self.manager, order=order, to_status=status, meta=RequestMeta()
                )
            self.transitions[order.pk] += 1
            self.manager_actions[order.pk] += 1

    # -- the actors (each runs in its own thread) -------------------------------------------

    def webhook(
        self,
        order: Order,
        *,
        confirm: bool = False,
        again: bool = False,
        after: threading.Event | None = None,
    ) -> Callable[[], str]:
        """The card is confirmed (if `confirm`) and Stripe's authorisation webhook arrives."""

        def act() -> str:
            if after is not None:
                assert after.wait(10), "the expiry never read the intent"
            if confirm and not self.confirm(order):
                return "not confirmed"
            return self.deliver(self.authorisation_event(order, again=again))

        return act

    def expiry(self, order: Order) -> Callable[[], bool]:
        return lambda: payment_hold_expire(order.pk)

    def customer_cancel(self, order: Order) -> Callable[[], Order]:
        return lambda: order_cancel_by_customer(
            user=self.customer, order_number=order.order_number, reason="changed my mind"
        )

    def manager_change(self, order: Order, to_status: str) -> Callable[[], Order]:
        def act() -> Order:
            fresh = Order.objects.get(pk=order.pk)  # as the request would load it
            if to_status == S.CANCELLED:
                return manager_order_cancel(
                    manager=self.manager, order=fresh, reason="customer called", meta=RequestMeta()
                )
            if to_status == S.PENDING:
                return manager_order_resume(manager=self.manager, order=fresh, meta=RequestMeta())
            return manager_order_status_change(
                manager=self.manager, order=fresh, to_status=to_status, meta=RequestMeta()
            )

        return act

    # -- judging (main thread) --------------------------------------------------------------

    def judge(
        self, order: Order, outcomes: list[Outcome], kinds: list[str], also: tuple[str, ...] = ()
    ) -> Order:
        """Check every invariant after a race, again after the late webhooks; the order.

        `also`: error codes a thread may get besides the usual 409s.
        """
        self._record(order, outcomes, kinds, REFUSALS | set(also))
        self._check()
        for event in self.fake.events:
            if event["id"] not in self.delivered:
                assert self.deliver(event) in ("applied", "replayed", "ignored"), event["type"]
        self._record(order, [], [], REFUSALS)
        self._check()
        return Order.objects.get(pk=order.pk)

    def _record(
        self, order: Order, outcomes: list[Outcome], kinds: list[str], refusals: frozenset[str]
    ) -> None:
        for outcome, kind in zip(outcomes, kinds, strict=True):
            if outcome.error is not None:
                assert isinstance(outcome.error, ApplicationError), f"{kind}: {outcome.error!r}"
                assert outcome.error.code in refusals, (
                    f"{kind} refused: {outcome.error.code} {outcome.error.detail}"
                )
            elif kind == "expiry":
                self.transitions[order.pk] += outcome.result is True
            elif kind in ("customer", "manager"):
                self.transitions[order.pk] += 1
                self.manager_actions[order.pk] += kind == "manager"
            else:
                assert outcome.result in ("applied", "not confirmed"), (kind, outcome.result)
        # The webhook moves an order only by resuming an expired one (`settle`).
        resumes = OrderStatusHistory.objects.filter(order=order, note=RESUME_NOTE).count()
        self.transitions[order.pk] += resumes - self.resumes[order.pk]
        self.resumes[order.pk] = resumes

    def _check(self) -> None:
        orders = list(Order.objects.filter(pk__in=[o.pk for o in self.orders]))
        live = [o.pk for o in orders if o.status != S.CANCELLED]
        for sku in self.skus:
            stock = SKU.objects.get(pk=sku.pk).stock
            sold = OrderItem.objects.filter(sku=sku, order_id__in=live).aggregate(
                n=Sum("quantity")
            )["n"]
            assert stock >= 0
            assert stock + (sold or 0) == self.initial_stock[sku.pk], (
                f"SKU {sku.code}: {stock} in stock + {sold} sold != {self.initial_stock[sku.pk]}"
            )
        for order in orders:
            self._check_order(order)

    def _check_order(self, order: Order) -> None:
        where = f"{order.order_number} ({order.status}, {order.payment_status})"
        payments = list(Payment.objects.filter(order=order).order_by("-created_at", "-id"))
        assert payments, where
        open_payments = [p for p in payments if p.status != "canceled"]
        assert len(open_payments) <= 1, f"{where}: {len(open_payments)} live payments"
        current = open_payments[0] if open_payments else payments[0]
        assert order.payment_status == payment_status_of(current), (
            f"{where}: its payment ({current.status}) makes it {payment_status_of(current)}"
        )
        for payment in payments:
            if not payment.provider_ref:  # a resumed order's new payment: no intent yet
                continue
            at_stripe = self.fake.intent(payment.provider_ref)["status"]
            assert payment.status == at_stripe, (
                f"{where}: payment {payment.pk} is {payment.status}, Stripe says {at_stripe}"
            )
        if order.status in (S.SHIPPED, S.DELIVERED):
            assert current.status == "succeeded", f"{where}: shipped without capture"
            assert current.amount_captured == order.total, where
        if order.status in (S.CONFIRMED, S.PROCESSING):
            assert current.status == "requires_capture", f"{where}: left pending unpaid"
        if order.status == S.CANCELLED:
            held = [p.pk for p in payments if p.status == "requires_capture"]
            assert not held, f"{where}: cancelled with money held (payments {held})"

        history = list(OrderStatusHistory.objects.filter(order=order).order_by("created_at", "id"))
        assert len(history) == 1 + self.transitions[order.pk], (
            f"{where}: {len(history)} history rows for {self.transitions[order.pk]} "
            f"transitions: {[(h.from_status, h.to_status, h.note) for h in history]}"
        )
        assert (history[0].from_status, history[0].to_status) == (None, S.PENDING), where
        for before, after in itertools.pairwise(history):
            assert after.from_status == before.to_status, f"{where}: broken history chain"
            assert after.to_status in TRANSITIONS[after.from_status], where
        assert history[-1].to_status == order.status, where
        logged = ManagerActivityLog.objects.filter(
            object_type="order", object_id=order.order_number
        ).count()
        assert logged == self.manager_actions[order.pk], f"{where}: {logged} manager log rows"


@pytest.fixture
def shop(fake_stripe) -> Shop:
    skus = [priced_sku(market="US", price=price, stock=50) for price in ("40.00", "25.00")]
    customer = UserFactory(phone=f"+1202555{next(_phones):04d}")
    assert customer.market == "US"
    return Shop(
        fake=fake_stripe,
        skus=skus,
        initial_stock={sku.pk: sku.stock for sku in skus},
        customer=customer,
        manager=make_manager(market="US"),
    )


# --------------------------------------------------------------------------- (1) webhook/expiry


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_authorisation_webhook_racing_the_hold_expiry(shop, monkeypatch):
    """A late authorisation and the expiry of its order: the order ends pending and
    authorised, or cancelled (`payment_expired`) with its intent cancelled at Stripe.

    Rounds: the card confirmed before the race (the expiry reads the authorisation at
    Stripe and keeps the order); confirmed during the race; confirmed just after the
    expiry read the intent (its read is stale; the webhook and the expiry then race
    for the order's lock, the expiry pausing 0 or 50 ms); and that once more with
    Stripe refusing the expiry's cancel (the money stays held until the authorisation
    is applied: it brings the order back, its stock being there).
    """
    read = threading.Event()
    pause = {"seconds": 0.0}
    fetch = payment_events._fetch

    def fetch_then_pause(payment):
        fresh = fetch(payment)
        read.set()
        time.sleep(pause["seconds"])
        return fresh

    monkeypatch.setattr(payment_events, "_fetch", fetch_then_pause)
    rounds = [
        ("before the race", 0.0, False),
        ("during the race", 0.0, False),
        ("after the read", 0.0, False),
        ("after the read", 0.05, False),
        ("after the read", 0.0, True),
    ]
    for index, (confirmed, seconds, void_fails) in enumerate(rounds):
        order = shop.new_order(expired=True)
        read.clear()
        pause["seconds"] = seconds
        if confirmed == "before the race":
            assert shop.confirm(order)
        if void_fails:
            cancel = f"/v1/payment_intents/{shop.ref(order)}/cancel"
            shop.fake.fail_next("POST", cancel, "server_error")
        webhook = shop.webhook(
            order,
            confirm=confirmed != "before the race",
            after=read if confirmed == "after the read" else None,
        )
        outcomes = race(webhook, shop.expiry(order), delays=STAGGER[index])

        order = shop.judge(order, outcomes, ["webhook", "expiry"])
        if order.status == S.PENDING:
            assert order.payment_status == "authorized", confirmed
            assert shop.intent_status(order) == "requires_capture"
        else:
            assert (order.status, order.cancel_reason) == (S.CANCELLED, "payment_expired")
            assert shop.intent_status(order) == "canceled"
            assert outcomes[1].result is True
        if confirmed == "before the race":
            assert outcomes[1].result is False  # it read the authorisation at Stripe


# --------------------------------------------------------------------------- (2) webhook/customer


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_authorisation_webhook_racing_a_customer_cancel(shop):
    """The customer cancels a pending order while its authorisation arrives. The cancel
    stands, the stock comes back once and the authorisation is voided at Stripe (before
    or after it was applied here), or Stripe refuses the confirmation of the cancelled
    intent. Last round: Stripe refuses the first cancel call (the money stays held until
    the authorisation is applied and voided; a cancel of an order already authorised
    here is refused with 503 and changes nothing)."""
    for index in range(ROUNDS):
        order = shop.new_order()
        confirm_in_race = index % 2 == 1
        void_fails = index == ROUNDS - 1
        if not confirm_in_race:
            assert shop.confirm(order)  # the card is confirmed; its webhook is on its way
        if void_fails:
            cancel = f"/v1/payment_intents/{shop.ref(order)}/cancel"
            shop.fake.fail_next("POST", cancel, "server_error")
        outcomes = race(
            shop.webhook(order, confirm=confirm_in_race),
            shop.customer_cancel(order),
            delays=STAGGER[index],
        )

        also = ("payment_provider_unavailable",) if void_fails else ()
        order = shop.judge(order, outcomes, ["webhook", "customer"], also=also)
        if order.status == S.CANCELLED:
            assert outcomes[1].ok
            assert shop.intent_status(order) == "canceled"
            assert order.payment_status in ("voided", "unpaid")
        else:
            assert void_fails, outcomes[1].error
            assert (order.status, order.payment_status) == (S.PENDING, "authorized")
            assert shop.intent_status(order) == "requires_capture"


# --------------------------------------------------------------------------- (3) webhook/manager


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_authorisation_webhook_racing_a_manager(shop):
    """A manager acts while an authorisation webhook arrives.

    Confirm: before the authorisation is applied it is 409 `payment_required` (a card
    order leaves pending only with its money held), after it the order is confirmed.
    Cancel: it stands, and the authorisation is voided at Stripe. Ship (an authorised
    order in processing; Stripe sends the authorised state once more): the card is
    captured and the late event does not move the payment back. Resume (an order the
    expiry cancelled while Stripe refused to cancel its intent, which the customer
    then paid): the manager and the late authorisation both bring it back to pending;
    exactly one does, and its stock is taken exactly once.
    """
    rounds = [
        (S.PENDING, False),
        (S.CONFIRMED, False),
        (S.CONFIRMED, True),
        (S.CANCELLED, True),
        (S.SHIPPED, False),
    ]
    for index, (target, confirm_in_race) in enumerate(rounds):
        order = shop.new_order(expired=target == S.PENDING)
        again = False
        if target == S.SHIPPED:
            shop.authorise(order)
            shop.manager_moves(order, S.CONFIRMED, S.PROCESSING)
            again = True
        elif target == S.PENDING:
            cancel = f"/v1/payment_intents/{shop.ref(order)}/cancel"
            shop.fake.fail_next("POST", cancel, "server_error")
            with events.quiet():
                assert payment_hold_expire(order.pk) is True
            shop.transitions[order.pk] += 1
        if not confirm_in_race and target != S.SHIPPED:
            assert shop.confirm(order)
        webhook = shop.webhook(order, confirm=confirm_in_race, again=again)
        outcomes = race(webhook, shop.manager_change(order, target), delays=STAGGER[index])

        order = shop.judge(order, outcomes, ["webhook", "manager"])
        if target == S.CONFIRMED:
            if outcomes[1].ok:
                assert (order.status, order.payment_status) == (S.CONFIRMED, "authorized")
            else:
                assert outcomes[1].refused("payment_required")
                assert (order.status, order.payment_status) == (S.PENDING, "authorized")
        elif target == S.SHIPPED:
            assert outcomes[1].ok, outcomes[1].error
            assert (order.status, order.payment_status) == (S.SHIPPED, "paid")
            assert shop.intent_status(order) == "succeeded"
        elif target == S.PENDING:
            assert (order.status, order.payment_status) == (S.PENDING, "authorized")
            by_webhook = order.status_history.filter(note=RESUME_NOTE).count()
            assert by_webhook + outcomes[1].ok == 1, "exactly one resume"
            assert outcomes[1].ok or outcomes[1].refused("invalid_transition")
        else:
            assert outcomes[1].ok, outcomes[1].error
            assert order.status == S.CANCELLED
            assert shop.intent_status(order) == "canceled"


# --------------------------------------------------------------------------- (4) expiry/customer


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_hold_expiry_racing_a_customer_cancel(shop):
    """Both cancel an unpaid expired order: exactly one does (the customer is told 409,
    or the task skips the order), the stock comes back once, the intent is cancelled at
    Stripe by one call."""
    for index in range(ROUNDS):
        order = shop.new_order(expired=True)
        outcomes = race(shop.expiry(order), shop.customer_cancel(order), delays=STAGGER[index])

        order = shop.judge(order, outcomes, ["expiry", "customer"])
        expired, cancelled = outcomes[0].result is True, outcomes[1].ok
        assert expired != cancelled, "exactly one of them cancels"
        if expired:
            assert outcomes[1].refused("invalid_transition")
        assert order.status == S.CANCELLED
        assert order.cancel_reason == ("payment_expired" if expired else "changed my mind")
        assert shop.intent_status(order) == "canceled"
        path = f"/v1/payment_intents/{shop.ref(order)}/cancel"
        assert [r.path for r in shop.fake.requests].count(path) == 1


# --------------------------------------------------------------------------- (5) expiry/manager


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_hold_expiry_racing_a_manager_confirm(shop):
    """A manager confirms an order whose hold expired while the expiry task runs.

    Unpaid (rounds 1, 3, 5): the expiry cancels it; the manager is told 409
    (`payment_required` before, `invalid_transition` after). Authorised at Stripe with
    its webhook not yet here (rounds 2, 4): the expiry reads the authorisation and keeps
    the order; the manager's confirm is 409 `payment_required` if it comes first, else
    it goes through.
    """
    for index in range(ROUNDS):
        order = shop.new_order(expired=True)
        paid_at_stripe = index % 2 == 1
        if paid_at_stripe:
            assert shop.confirm(order)  # its webhook is late: delivered after the race
        outcomes = race(
            shop.expiry(order), shop.manager_change(order, S.CONFIRMED), delays=STAGGER[index]
        )

        order = shop.judge(order, outcomes, ["expiry", "manager"])
        if paid_at_stripe:
            assert outcomes[0].result is False
            assert order.payment_status == "authorized"
            assert shop.intent_status(order) == "requires_capture"
            if outcomes[1].ok:
                assert order.status == S.CONFIRMED
            else:
                assert outcomes[1].refused("payment_required")
                assert order.status == S.PENDING
        else:
            assert outcomes[0].result is True
            assert outcomes[1].refused("payment_required", "invalid_transition")
            assert (order.status, order.cancel_reason) == (S.CANCELLED, "payment_expired")
            assert shop.intent_status(order) == "canceled"


# --------------------------------------------------------------------------- (6) customer/manager


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_customer_cancel_racing_a_manager_status_change(shop):
    """An authorised order: the customer cancels while a manager confirms it (pending),
    starts processing it (confirmed) or cancels it too. A cancel voids the authorisation
    and returns the stock once; processing first leaves the customer a 409, a cancel
    first the manager; of two cancels exactly one goes through."""
    targets = [S.CONFIRMED, S.PROCESSING, S.CANCELLED, S.PROCESSING, S.CONFIRMED]
    for index, target in enumerate(targets):
        order = shop.new_order()
        shop.authorise(order)
        if target == S.PROCESSING:
            shop.manager_moves(order, S.CONFIRMED)
        outcomes = race(
            shop.customer_cancel(order), shop.manager_change(order, target), delays=STAGGER[index]
        )

        order = shop.judge(order, outcomes, ["customer", "manager"])
        if target == S.CANCELLED:
            assert outcomes[0].ok != outcomes[1].ok, "exactly one cancel"
            assert any(o.refused("invalid_transition") for o in outcomes)
        if order.status == S.CANCELLED:
            assert outcomes[0].ok or target == S.CANCELLED
            assert outcomes[1].ok or outcomes[1].refused("invalid_transition")
            assert (order.payment_status, shop.intent_status(order)) == ("voided", "canceled")
        else:
            assert order.status == S.PROCESSING
            assert outcomes[0].refused("invalid_transition")
            assert (order.payment_status, shop.intent_status(order)) == (
                "authorized",
                "requires_capture",
            )


# --------------------------------------------------------------------------- found on the way


@pytest.mark.django_db
def test_an_authorisation_stamped_in_the_second_of_the_checkout_is_applied(fake_stripe):
    """Stripe stamps events in whole seconds; an authorisation made in the second of the
    checkout is newer than anything we know (it was dropped while payment_sync compared it
    with our own clock to the microsecond, and its event id was stored as applied)."""
    sku = priced_sku(market="US", price="40.00", stock=5)
    customer = UserFactory(phone="+12025556002")
    fill_cart(customer, (sku, 1))
    order = checkout(customer, payment_method="card").order
    payment = Payment.objects.get(order=order)
    intent = fake_stripe.confirm(payment.provider_ref, "authorized")
    event = fake_stripe.event(AUTHORISED, intent, created=int(payment.created_at.timestamp()))
    body, signature = fake_stripe.signed(event)

    assert webhook_receive(provider_name="stripe", body=body, signature=signature) == "applied"

    payment.refresh_from_db()
    assert payment.status == "requires_capture"
    assert Order.objects.get(pk=order.pk).payment_status == "authorized"


@pytest.mark.django_db
def test_a_late_authorisation_stamped_in_the_second_of_the_expiry_brings_the_order_back(
    fake_stripe,
):
    """The expiry cancelled the order but Stripe refused its cancel; the customer's
    authorisation, stamped in the second of the expiry, brings the order back (SPEC §8:
    stock allowing), instead of being voided as older than the expiry's read."""
    sku = priced_sku(market="US", price="40.00", stock=5)
    customer = UserFactory(phone="+12025556003")
    fill_cart(customer, (sku, 1))
    order = checkout(customer, payment_method="card").order
    payment = Payment.objects.get(order=order)
    Payment.objects.filter(pk=payment.pk).update(
        synced_at=timezone.now() - timedelta(minutes=45),
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    cancel = f"/v1/payment_intents/{payment.provider_ref}/cancel"
    fake_stripe.fail_next("POST", cancel, "server_error")
    second = int(time.time())
    assert payment_hold_expire(order.pk) is True  # cancelled here; the intent stays open
    assert SKU.objects.get(pk=sku.pk).stock == 5
    intent = fake_stripe.confirm(payment.provider_ref, "authorized")
    body, signature = fake_stripe.signed(fake_stripe.event(AUTHORISED, intent, created=second))

    assert webhook_receive(provider_name="stripe", body=body, signature=signature) == "applied"

    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.payment_status) == (S.PENDING, "authorized")
    assert fake_stripe.intent(payment.provider_ref)["status"] == "requires_capture"
    assert SKU.objects.get(pk=sku.pk).stock == 4
