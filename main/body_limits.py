"""Request body limits, enforced before anything reads a body.

DRF's parsers read the request stream directly, so Django's
DATA_UPLOAD_MAX_MEMORY_SIZE never sees a JSON body: without this middleware an
anonymous 200 MB JSON post is read into memory whole. Here:

- a declared `Content-Length` above the limit is refused at once with 413
  `payload_too_large`, without reading a byte of the body;
- the stream is wrapped so that reading past the limit raises
  `RequestDataTooBig` (→ 413 too, also inside DRF parsers), whatever the
  declared length said.

Limits: `API_MAX_UPLOAD_BYTES` for `multipart/form-data` on the paths that take
uploads (review images, the admin), `API_MAX_BODY_BYTES` for every other body
(JSON, forms, multipart sent anywhere else).

The middleware sits right after CorsMiddleware, so a browser can read the 413,
and before SessionMiddleware and CsrfViewMiddleware, the first that may read
a body.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from main.exceptions import PayloadTooLarge, error_response

MULTIPART = "multipart/form-data"


# Where uploads are taken (review and return photos; the admin's product and banner pictures).
# A multipart body anywhere else gets the ordinary limit: the client's Content-Type
# alone must not buy it 30 MiB.
UPLOAD_PATH_PREFIXES = ("/api/v1/reviews/", "/api/v1/returns/", "/admin/")


def body_limit(request) -> int:
    """Bytes of body the request may carry: uploads where uploads are taken, else the default."""
    if request.content_type == MULTIPART and request.path.startswith(UPLOAD_PATH_PREFIXES):
        return settings.API_MAX_UPLOAD_BYTES
    return settings.API_MAX_BODY_BYTES


def declared_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:  # Django reads an unparsable length as 0 too
        return 0


class CappedStream:
    """A body stream that raises RequestDataTooBig past `limit` bytes.

    It never asks the wrapped stream for more than limit + 1 bytes in total,
    so a body with no or a lying Content-Length costs at most the limit.
    """

    def __init__(self, stream, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._pos = 0

    def _size(self, size: int | None) -> int:
        remaining = self._limit - self._pos + 1
        return remaining if size is None or size < 0 else min(size, remaining)

    def _count(self, data: bytes) -> bytes:
        self._pos += len(data)
        if self._pos > self._limit:
            raise RequestDataTooBig(f"Request body exceeded {self._limit} bytes.")
        return data

    def read(self, size: int | None = -1, /) -> bytes:
        return self._count(self._stream.read(self._size(size)))

    def readline(self, size: int | None = -1, /) -> bytes:
        return self._count(self._stream.readline(self._size(size)))

    def __getattr__(self, name: str):
        # Everything else a stream offers (Django closes it after reading the body).
        return getattr(self._stream, name)


class BodyLimitMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit(request)
        if declared_length(request) > limit:
            response = error_response(
                PayloadTooLarge(f"The request body may be at most {limit} bytes.")
            )
            # CommonMiddleware (further in) never sees this response: say the length here.
            response["Content-Length"] = str(len(response.content))
            return response
        request._stream = CappedStream(request._stream, limit)
        return self.get_response(request)
