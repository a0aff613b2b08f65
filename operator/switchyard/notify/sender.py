"""POST one CloudEvent to a sink over HTTP(S) with aiohttp; the answer as (ok, HTTP status, what went wrong)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from cloudevents.core.bindings.http import HTTPMessage

ATTEMPT_TIMEOUT = 10.0  # seconds for one POST, connection included
USER_AGENT = "switchyard-operator"


@dataclass(frozen=True)
class Answer:
    ok: bool
    status: int | None  # None: no answer (connection refused, timeout, TLS)
    error: str = ""
    final: bool = False  # no point in trying again (the URI cannot work)


async def post(uri: str, message: HTTPMessage, timeout: float = ATTEMPT_TIMEOUT) -> Answer:
    """One attempt. The URI is never put into the error (it may carry credentials in its user info)."""
    headers = {**message.headers, "User-Agent": USER_AGENT}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(uri, data=message.body, headers=headers, allow_redirects=False) as response,
        ):
            if 200 <= response.status < 300:
                return Answer(True, response.status)
            return Answer(
                False, response.status, f"the sink answered {response.status} {response.reason or ''}".strip()
            )
    except TimeoutError:
        return Answer(False, None, f"no answer from the sink within {timeout:g} s")
    except aiohttp.InvalidURL:
        return Answer(False, None, "the sink's uri is not a URL aiohttp can use", final=True)
    except (aiohttp.ClientError, OSError) as exc:
        return Answer(False, None, f"could not reach the sink: {type(exc).__name__}: {exc}")
