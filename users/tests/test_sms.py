"""SMS backends (SPEC §6): console, in-memory outbox, Twilio with a sender per market."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException

from users import sms


def test_locmem_backend_appends_to_outbox(settings):
    settings.SMS_BACKEND = "users.sms.LocMemBackend"
    sms.send_sms("+996700111222", "hello")
    assert len(sms.outbox) == 1
    assert sms.outbox[0].to == "+996700111222"
    assert sms.outbox[0].body == "hello"


def test_console_backend_prints_the_message_for_the_developer(settings, capsys):
    settings.SMS_BACKEND = "users.sms.ConsoleBackend"
    sms.send_sms("+12025550143", "MARQUE: your sign-in code is 123456.")
    printed = capsys.readouterr().out
    assert "+12025550143" in printed and "123456" in printed
    assert sms.outbox == []


def test_file_backend_appends_one_json_line_per_message(settings, tmp_path):
    settings.SMS_BACKEND = "users.sms.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    sms.send_sms("+996700123456", "MARQUE: your sign-in code is 123456.")
    sms.send_sms("+12125550101", "Ваш код: 654321")

    lines = (tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"to": "+996700123456", "body": "MARQUE: your sign-in code is 123456."},
        {"to": "+12125550101", "body": "Ваш код: 654321"},
    ]


def test_file_backend_without_a_path_refuses_to_start(settings):
    settings.SMS_FILE_PATH = ""
    with pytest.raises(ImproperlyConfigured):
        sms.FileBackend()


def test_console_backend_writes_to_a_given_stream():
    stream = io.StringIO()
    sms.ConsoleBackend(stream=stream).send("+996700111222", "code 654321")
    assert "code 654321" in stream.getvalue()


class _FakeMessages:
    def __init__(self, error: Exception | None = None):
        self.calls: list[dict] = []
        self.error = error

    def create(self, **kwargs):
        self.calls.append(kwargs)
        if self.error:
            raise self.error


class _FakeTwilioClient:
    def __init__(self, error: Exception | None = None):
        self.messages = _FakeMessages(error)


@pytest.fixture
def twilio_senders(settings):
    settings.TWILIO_FROM_KG = "MARQUE"
    settings.TWILIO_FROM_US = "+12025550100"


@pytest.mark.usefixtures("twilio_senders")
@pytest.mark.parametrize(
    ("to", "sender"), [("+996700111222", "MARQUE"), ("+12025550143", "+12025550100")]
)
def test_twilio_backend_sends_from_the_market_sender(to, sender):
    client = _FakeTwilioClient()
    sms.TwilioBackend(client=client).send(to, "code 111111")
    assert client.messages.calls == [{"to": to, "from_": sender, "body": "code 111111"}]


@pytest.mark.usefixtures("twilio_senders")
def test_twilio_provider_failure_is_an_sms_error():
    error = TwilioRestException(status=400, uri="/Messages", msg="unreachable number")
    backend = sms.TwilioBackend(client=_FakeTwilioClient(error=error))
    with pytest.raises(sms.SMSError, match="unreachable number"):
        backend.send("+996700111222", "code")


@pytest.mark.usefixtures("twilio_senders")
def test_twilio_network_failure_is_an_sms_error():
    backend = sms.TwilioBackend(client=_FakeTwilioClient(error=ConnectionError("timed out")))
    with pytest.raises(sms.SMSError):
        backend.send("+12025550143", "code")


def test_twilio_without_a_sender_for_the_market_is_an_sms_error(settings):
    settings.TWILIO_FROM_US = ""
    client = _FakeTwilioClient()
    with pytest.raises(sms.SMSError, match="TWILIO_FROM_US"):
        sms.TwilioBackend(client=client).send("+12025550143", "code")
    assert client.messages.calls == []


def test_twilio_builds_a_real_client_from_the_credentials(settings):
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "not-a-real-token"
    backend = sms.get_backend("users.sms.TwilioBackend")
    assert backend.client.username == settings.TWILIO_ACCOUNT_SID


def test_twilio_without_credentials_refuses_to_start(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ImproperlyConfigured):
        sms.TwilioBackend()


def test_no_sms_ever_goes_to_a_number_that_cannot_receive_one(caplog):
    """A landline or premium number stored by staff still gets no SMS (one gate for all)."""
    for number in ("+996312123456", "+19005550123"):
        sms.send_sms(number, "MARQUE: your order is on its way.")
    sms.send_sms("+996700123456", "MARQUE: your order is on its way.")
    assert [message.to for message in sms.outbox] == ["+996700123456"]
    assert "not a number that can receive SMS" in caplog.text
