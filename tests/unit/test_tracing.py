"""The tracing switch: which variables turn it on, and that off imports nothing of the OpenTelemetry SDK."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from callout.tracing import enabled_by
from callout.tracing.otel import traces_endpoint

# Imports every module on the request and delivery paths, switches tracing on if the environment
# says so, and prints the SDK modules then loaded.
_PROBE = """
import sys
import callout.server, callout.cli, callout.integrations.asgi, callout.services.worker
from callout import tracing
on = tracing.start()
sdk = ("opentelemetry.sdk", "opentelemetry.exporter", "callout.tracing.otel")
loaded = sorted(m for m in sys.modules if m.startswith(sdk))
tracing.shutdown()
print(on, len(loaded))
"""


def _probe(**variables: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**env, **variables}, capture_output=True, text=True, timeout=60, check=True
    )
    return completed.stdout.strip()


class TestEnabledBy:
    @pytest.mark.parametrize(
        "environ",
        [
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h/x"},
        ],
    )
    def test_an_endpoint_switches_tracing_on(self, environ: dict[str, str]) -> None:
        """Either endpoint variable alone switches tracing on."""
        assert enabled_by(environ)

    @pytest.mark.parametrize(
        "environ",
        [
            {},
            {"OTEL_SERVICE_NAME": "callout-eu"},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": " "},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
        ],
    )
    def test_tracing_stays_off(self, environ: dict[str, str]) -> None:
        """No endpoint (a service name alone included), a blank one, or the SDK disabled leave tracing off."""
        assert not enabled_by(environ)


class TestTracesEndpoint:
    def test_general_endpoint_gets_the_traces_path(self) -> None:
        """OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: /v1/traces is appended."""
        assert traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"}) == (
            "http://127.0.0.1:4318/v1/traces"
        )

    def test_traces_endpoint_is_used_as_it_is(self) -> None:
        """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT wins and is the full URL."""
        environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:2/t"}
        assert traces_endpoint(environ) == "http://b:2/t"


class TestImports:
    def test_off_imports_no_sdk(self) -> None:
        """Without an endpoint, a process with the whole server imported loads no SDK or exporter module."""
        assert _probe(OTEL_SERVICE_NAME="callout") == "False 0"

    def test_on_imports_the_sdk(self) -> None:
        """With an endpoint the same probe does load the SDK (the check above can fail)."""
        on, loaded = _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9").split()
        assert (on, int(loaded) > 0) == ("True", True)
