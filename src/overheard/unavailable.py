"""Which exceptions mean "a backing service is away for now" (answered 503 + Retry-After).

Only errors of reaching a service count: a refused or timed-out connection to the database, the
blob store, the broker or the key provider, or the service saying it is overloaded. A bug, a
constraint violation or a malformed request stays what it is.
"""

from __future__ import annotations

from .errors import ServiceUnavailable

S3_RETRYABLE_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}
)
"""S3 error codes that say "try again later"."""
PKCS11_TRANSIENT = frozenset(
    {"GeneralError", "DeviceError", "DeviceMemory", "DeviceRemoved", "FunctionFailed",
     "TokenNotPresent", "SessionCount", "HostMemory", "SessionClosed", "SessionHandleInvalid"}
)  # fmt: skip
"""PKCS#11 errors that mean the token is busy or gone for the moment."""


def backend_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 error ``exc`` amounts to, or None when it is not a backend being unavailable."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    for service, test in _CLASSIFIERS:
        if test(exc):
            return ServiceUnavailable(_MESSAGES[service], service=service)
    return None


def _database(exc: BaseException) -> bool:
    from sqlalchemy import exc as sa

    if isinstance(exc, (sa.OperationalError, sa.InterfaceError, sa.TimeoutError)):
        return True
    return isinstance(exc, sa.DBAPIError) and bool(exc.connection_invalidated)


def _blob_store(exc: BaseException) -> bool:
    try:
        from botocore import exceptions as bc
    except ImportError:
        return False
    if isinstance(exc, (bc.ConnectionError, bc.HTTPClientError)):
        return True  # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ...
    if isinstance(exc, bc.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code", "") in S3_RETRYABLE_CODES or status >= 500
    return False


def _broker(exc: BaseException) -> bool:
    try:
        import kombu.exceptions
        import redis.exceptions
    except ImportError:
        return False
    redis_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    return isinstance(exc, (*redis_errors, kombu.exceptions.OperationalError))


def _key_provider(exc: BaseException) -> bool:
    kind = type(exc)
    if kind.__module__.startswith("pkcs11"):
        return kind.__name__ in PKCS11_TRANSIENT
    if kind.__module__.startswith("hvac"):
        return kind.__name__ in (
            "VaultDown",
            "InternalServerError",
            "BadGateway",
            "RateLimitExceeded",
        )
    if kind.__module__.startswith("requests"):
        return kind.__name__ in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout")
    return False


_CLASSIFIERS = (
    ("database", _database),
    ("blob_store", _blob_store),
    ("broker", _broker),
    ("key_provider", _key_provider),
)
_MESSAGES = {
    "database": "the database is unavailable; nothing was changed, try again shortly",
    "blob_store": "the blob store is unavailable; nothing was stored, try again shortly",
    "broker": "the job broker is unavailable; try again shortly",
    "key_provider": "the key provider is unavailable; try again shortly",
}
