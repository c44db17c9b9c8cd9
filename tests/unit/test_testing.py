"""The recording receiver for users' tests, driven by urllib, http.client and httpx on 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from callout.engine.signing import compute_signature_header
from callout.testing import RecordingReceiver, RecordingRequest, Reply
from callout.verify import NoValidSignatureError

KEY = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"
# Loopback only: never route through a proxy configured in the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A started receiver, closed after the test."""
    with RecordingReceiver(signing_keys=KEY) as started:
        yield started


def _post(
    url: str, body: bytes = b"{}", headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _signed_headers(body: bytes, key: str = KEY) -> dict[str, str]:
    stamp = int(datetime.now(UTC).timestamp())
    return {"ZITADEL-Signature": compute_signature_header(body, [key], stamp), "Content-Type": "application/json"}


class TestLifecycle:
    def test_url_is_loopback_with_the_bound_port(self, receiver: RecordingReceiver) -> None:
        """The URL points at 127.0.0.1 and the bound port, with a trailing slash."""
        assert receiver.url == f"http://127.0.0.1:{receiver.port}/"

    def test_url_for_joins_a_path(self, receiver: RecordingReceiver) -> None:
        """``url_for`` builds the URL of a path."""
        assert receiver.url_for("/hooks/a") == f"http://127.0.0.1:{receiver.port}/hooks/a"

    def test_port_before_start_is_an_error(self) -> None:
        """An unstarted receiver has no address."""
        with pytest.raises(RuntimeError, match="not started"):
            _ = RecordingReceiver().url

    def test_closed_receiver_refuses_connections(self) -> None:
        """After the ``with`` block the port no longer accepts connections."""
        with RecordingReceiver() as receiver:
            port = receiver.port
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass

    def test_close_cuts_a_pending_delay_short(self) -> None:
        """Closing does not wait for a long reply delay to run out."""
        receiver = RecordingReceiver().start()
        receiver.respond(delay=30)
        caller = threading.Thread(target=_post, args=(receiver.url,), kwargs={"timeout": 10}, daemon=True)
        caller.start()
        receiver.wait_for(1)
        started = time.monotonic()
        receiver.close()
        assert time.monotonic() - started < 5

    def test_module_imports_no_server_code(self) -> None:
        """``callout.testing`` imports without the web framework, ORM or HTTP client."""
        heavy = "{'fastapi', 'sqlalchemy', 'aiohttp', 'starlette', 'httpx'}"
        code = f"import sys, callout.testing; print(sorted({heavy} & set(sys.modules)))"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "[]"

    async def test_async_context_manager(self) -> None:
        """``async with`` starts and stops the receiver."""
        async with RecordingReceiver() as receiver, httpx.AsyncClient(trust_env=False) as client:
            response = await client.post(receiver.url, content=b"x")
        assert response.status_code == 200


class TestRecording:
    def test_request_is_recorded(self, receiver: RecordingReceiver) -> None:
        """Method, path with query, headers and the raw body are recorded."""
        _post(receiver.url_for("/hook?x=1"), b'{"a":1}', {"X-Test": "yes"})
        [request] = receiver.requests
        assert (request.method, request.path, request.body, request.header("x-test")) == (
            "POST",
            "/hook?x=1",
            b'{"a":1}',
            "yes",
        )

    def test_received_time_is_recorded(self, receiver: RecordingReceiver) -> None:
        """Each request carries the aware time it arrived."""
        before = datetime.now(UTC)
        _post(receiver.url)
        assert before <= receiver.last.received_at <= datetime.now(UTC)

    def test_json_body_parses(self, receiver: RecordingReceiver) -> None:
        """``json()`` parses the recorded body."""
        _post(receiver.url, b'{"fullMethod":"/a.B/C"}')
        assert receiver.last.json() == {"fullMethod": "/a.B/C"}

    def test_missing_header_gives_default(self, receiver: RecordingReceiver) -> None:
        """A header that was not sent gives the default."""
        _post(receiver.url)
        assert receiver.last.header("X-Absent", "none") == "none"

    def test_chunked_body_is_decoded(self, receiver: RecordingReceiver) -> None:
        """A chunked request body is reassembled."""
        connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
        connection.request("POST", "/", body=iter([b"hello ", b"world"]), encode_chunked=True)
        connection.getresponse().read()
        connection.close()
        assert receiver.last.body == b"hello world"

    def test_concurrent_requests_are_all_recorded(self, receiver: RecordingReceiver) -> None:
        """Parallel callers are all recorded, none lost."""
        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda index: _post(receiver.url, str(index).encode()), range(30)))
        assert sorted(int(request.body) for request in receiver.requests) == list(range(30))

    def test_requests_is_a_snapshot(self, receiver: RecordingReceiver) -> None:
        """The list returned by ``requests`` does not change afterwards."""
        snapshot = receiver.requests
        _post(receiver.url)
        assert (snapshot, len(receiver.requests)) == ([], 1)

    def test_clear_forgets_requests(self, receiver: RecordingReceiver) -> None:
        """``clear`` empties the record."""
        _post(receiver.url)
        receiver.clear()
        assert receiver.requests == []

    def test_last_without_requests_is_an_error(self, receiver: RecordingReceiver) -> None:
        """``last`` raises when nothing arrived yet."""
        with pytest.raises(LookupError):
            _ = receiver.last


class TestReplies:
    def test_default_reply_is_empty_200(self, receiver: RecordingReceiver) -> None:
        """Without configuration the receiver answers 200 with an empty body."""
        assert _post(receiver.url) == (200, b"")

    def test_json_reply(self, receiver: RecordingReceiver) -> None:
        """A JSON reply is compact and labelled application/json."""
        receiver.respond(json={"id": "changed"})
        response = httpx.post(receiver.url, content=b"{}", trust_env=False)
        assert (response.content, response.headers["content-type"]) == (b'{"id":"changed"}', "application/json")

    def test_status_and_raw_body(self, receiver: RecordingReceiver) -> None:
        """Status and raw body are answered as configured."""
        receiver.respond(status=500, body="broken")
        assert _post(receiver.url) == (500, b"broken")

    def test_extra_headers(self, receiver: RecordingReceiver) -> None:
        """Configured headers are sent."""
        receiver.respond(status=429, headers={"Retry-After": "3"})
        assert httpx.post(receiver.url, trust_env=False).headers["retry-after"] == "3"

    def test_reply_per_path_wins_over_global(self, receiver: RecordingReceiver) -> None:
        """A path-specific reply applies to that path (query ignored), the global one elsewhere."""
        receiver.respond(status=201)
        receiver.respond(status=404, path="/missing")
        assert (_post(receiver.url_for("/missing?q=1"))[0], _post(receiver.url_for("/other"))[0]) == (404, 201)

    def test_callable_reply_sees_the_request(self, receiver: RecordingReceiver) -> None:
        """A responder computes the reply from the request."""
        receiver.respond_with(lambda request: Reply.build(json={"echo": request.json()}))
        assert _post(receiver.url, b'{"a":1}') == (200, b'{"echo":{"a":1}}')

    def test_failing_responder_answers_500(self, receiver: RecordingReceiver) -> None:
        """A responder that raises gives a 500 instead of hanging the caller."""
        receiver.respond_with(lambda request: 1 / 0)  # type: ignore[arg-type,return-value]
        assert _post(receiver.url)[0] == 500

    def test_delay_makes_a_short_timeout_expire(self, receiver: RecordingReceiver) -> None:
        """A delayed reply outlasts a shorter client timeout; the request is still recorded."""
        receiver.respond(delay=1.0)
        with pytest.raises(httpx.TimeoutException):
            httpx.post(receiver.url, timeout=0.2, trust_env=False)
        assert len(receiver.requests) == 1

    def test_head_reply_has_no_body(self, receiver: RecordingReceiver) -> None:
        """A HEAD request gets headers only."""
        receiver.respond(body="ignored")
        response = httpx.head(receiver.url, trust_env=False)
        assert (response.status_code, response.content, response.headers["content-length"]) == (200, b"", "7")


class TestWaiting:
    def test_wait_for_returns_once_enough_arrived(self, receiver: RecordingReceiver) -> None:
        """``wait_for`` returns the requests when the count is reached."""
        threading.Timer(0.1, _post, args=(receiver.url,)).start()
        assert len(receiver.wait_for(1, timeout=5)) == 1

    def test_wait_for_times_out(self, receiver: RecordingReceiver) -> None:
        """``wait_for`` raises TimeoutError when too few requests arrive."""
        with pytest.raises(TimeoutError, match="expected 2"):
            receiver.wait_for(2, timeout=0.1)

    async def test_wait_for_async_does_not_block_the_loop(self, receiver: RecordingReceiver) -> None:
        """In async tests the wait lets the caller on the same loop proceed."""
        async with httpx.AsyncClient(trust_env=False) as client:
            waiting = receiver.wait_for_async(1, timeout=5)
            await client.post(receiver.url, content=b"x")
            assert [request.body for request in await waiting] == [b"x"]


class TestSignatures:
    def test_signed_request_verifies_with_the_receivers_keys(self, receiver: RecordingReceiver) -> None:
        """A request signed with the receiver's key verifies."""
        _post(receiver.url, b"{}", _signed_headers(b"{}"))
        receiver.last.verify_signature()

    def test_wrong_key_fails(self, receiver: RecordingReceiver) -> None:
        """A request signed with another key does not verify."""
        _post(receiver.url, b"{}", _signed_headers(b"{}", "other"))
        with pytest.raises(NoValidSignatureError):
            receiver.last.verify_signature()

    def test_explicit_keys_override(self, receiver: RecordingReceiver) -> None:
        """Keys passed to ``verify_signature`` replace the receiver's."""
        _post(receiver.url, b"{}", _signed_headers(b"{}", "other"))
        receiver.last.verify_signature(["other"])

    def test_no_keys_is_a_usage_error(self) -> None:
        """Verifying without any key is refused."""
        request = RecordingRequest("POST", "/", (), b"", datetime.now(UTC))
        with pytest.raises(ValueError, match="no signing keys"):
            request.verify_signature()
