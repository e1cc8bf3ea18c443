"""httpx-aiohttp's transport, with failures translated by what they say about the request.

httpx-aiohttp 0.2.0 maps `aiohttp.ClientConnectionError`, the base of `ServerDisconnectedError`
and of a connection reset mid-response, to `httpx.ConnectTimeout`. The retry policy reads
`ConnectTimeout` as "the request never left", so a token POST the platform did receive would be
sent again, and a rotating refresh token would be spent twice. It also copies aiohttp's messages,
and aiohttp's connect timeout names the whole URL, query string included (Meta's carry tokens).

Here every aiohttp failure becomes the httpx exception that says what really happened, with the
exception's class name as its only message: `ConnectError`/`ConnectTimeout` only when no byte of
the request can have been sent, otherwise a read-side error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
import httpx_aiohttp

__all__ = ["AiohttpTransport", "translate_error"]

# Most specific first: ConnectionTimeoutError and SocketTimeoutError are ServerTimeoutErrors,
# ServerTimeoutError and ClientConnectorError are ClientConnectionErrors.
_TRANSLATIONS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # Waiting for a pooled connection or connecting: nothing was sent.
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # incl. DNS, TLS and certificate errors
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    # From here on the request may have reached the server.
    (asyncio.TimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
    (OSError, httpx.ReadError),
)

# What aiohttp and httpx-aiohttp raise (asyncio.TimeoutError is TimeoutError, an OSError).
_FAILURES = (httpx.HTTPError, aiohttp.ClientError, OSError)


def translate_error(error: Exception, request: httpx.Request) -> Exception:
    """The httpx exception for a failure inside the aiohttp transport (`error` itself if it is
    neither aiohttp's nor a translation of one)."""
    original = error.__cause__ if isinstance(error, httpx.HTTPError) else error
    if not isinstance(original, Exception):
        return error
    for source, target in _TRANSLATIONS:
        if isinstance(original, source):
            return target(type(original).__name__, request=request)
    return error


class _TranslatingStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except _FAILURES as error:
            raise translate_error(error, self._request) from None

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except _FAILURES as error:
            raise translate_error(error, self._request) from None


class AiohttpTransport(httpx_aiohttp.AiohttpTransport):
    """One aiohttp `ClientSession` (made on first use, closed by `aclose`) behind httpx.

    Honours the `sni_hostname` request extension (the SSRF guard's pinned connections) as
    aiohttp's `server_hostname`, which is also part of aiohttp's pool key.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except _FAILURES as error:
            raise translate_error(error, request) from None
        assert isinstance(response.stream, httpx.AsyncByteStream)  # noqa: S101 - always async
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TranslatingStream(response.stream, request),
            request=request,
            extensions=response.extensions,
        )
