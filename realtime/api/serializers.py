from rest_framework import serializers


class TicketOutput(serializers.Serializer):
    ticket = serializers.CharField(
        help_text="Open `/ws/v1/events/?ticket=<ticket>` with it once, within `expires_in` seconds."
    )
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid (30).")
