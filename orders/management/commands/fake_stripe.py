"""`manage.py fake_stripe`: the fake Stripe API in the foreground, for local development."""

import logging
import threading

from django.core.management.base import BaseCommand, CommandError

from orders.payments.fake_stripe import FakeStripe


class Command(BaseCommand):
    help = (
        "Serve a fake Stripe API (PaymentIntents, Refunds) on 127.0.0.1 until Ctrl-C, and print "
        "the .env lines that point the backend at it. Confirm a payment as Stripe.js would with "
        "POST /_dev/payment_intents/<id>/confirm (outcome=authorized|declined|requires_action|"
        "processing). With --webhook-url every state change is also POSTed there as a signed "
        "event."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=12111)
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="where to POST signed events, e.g. http://127.0.0.1:8000/api/v1/payments/stripe/webhook/",
        )
        parser.add_argument("--secret-key", default="sk_test_fake")
        parser.add_argument("--webhook-secret", default="whsec_fake")

    def handle(self, *args, port, webhook_url, secret_key, webhook_secret, **options):
        # Requests and webhook deliveries are logged by the fake; show them on stderr.
        log = logging.getLogger("orders.payments.fake_stripe")
        log.setLevel(logging.INFO)
        log.addHandler(logging.StreamHandler(self.stderr))
        try:
            fake = FakeStripe(secret_key, webhook_secret, port=port, webhook_url=webhook_url)
            fake.start()
        except (ValueError, OSError) as error:
            raise CommandError(f"Cannot serve the fake Stripe on port {port}: {error}") from error
        self.stdout.write(f"Fake Stripe listening on {fake.base_url}. Put this in .env:\n")
        self.stdout.write(f"STRIPE_API_BASE={fake.base_url}")
        self.stdout.write(f"STRIPE_SECRET_KEY={fake.secret_key}")
        self.stdout.write("STRIPE_PUBLISHABLE_KEY=pk_test_fake")
        self.stdout.write(f"STRIPE_WEBHOOK_SECRET={fake.webhook_secret}\n")
        self.stdout.write(
            f"Confirm a payment: curl -X POST {fake.base_url}/_dev/payment_intents/<pi_id>/confirm"
            f" -u {fake.secret_key}: -d outcome=authorized"
        )
        if webhook_url:
            self.stdout.write(f"Events go to {webhook_url}")
        self.stdout.write("Ctrl-C to stop.")
        self.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            fake.stop()
