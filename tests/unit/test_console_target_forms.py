"""The Targets pages' form conversions: typed fields to the API's JSON and the API's answers to words."""

from __future__ import annotations

from callout.console.target_forms import (
    TargetForm,
    condition_label,
    expiry_timestamp,
    form_from_post,
    form_from_target,
    interrupts,
    seconds_of,
    target_body,
    type_label,
)


class TestTargetBody:
    def test_seconds_become_a_duration(self) -> None:
        """A timeout typed as 10 is sent as "10s", with the type as the API's oneof member."""
        body = target_body(TargetForm(name="n", endpoint="https://e", timeout="10", target_type="restCall"))
        assert (body["timeout"], body["restCall"]) == ("10s", {})

    def test_async_never_interrupts(self) -> None:
        """Interrupt on error is dropped for async targets, which cannot interrupt."""
        body = target_body(TargetForm(target_type="restAsync", interrupt_on_error=True))
        assert body["restAsync"] == {}

    def test_blank_timeout_is_left_for_the_api_to_refuse(self) -> None:
        """A blank timeout is not sent, so the API reports it missing."""
        assert "timeout" not in target_body(TargetForm(timeout="  "))


class TestFormValues:
    def test_unknown_choices_fall_back_to_the_defaults(self) -> None:
        """A posted type or payload type the form does not offer becomes webhook and JSON."""
        values = form_from_post({"target_type": "ftp", "payload_type": "XML", "interrupt_on_error": "on"})
        assert (values.target_type, values.payload_type, values.interrupt_on_error) == (
            "restWebhook",
            "PAYLOAD_TYPE_JSON",
            True,
        )

    def test_a_target_fills_the_edit_form(self) -> None:
        """A GetTarget answer gives the edit form's type, flag, seconds and payload type."""
        target = {"name": "n", "restCall": {"interruptOnError": True}, "endpoint": "e", "timeout": "1.500s"}
        values = form_from_target(target)
        assert (values.target_type, values.interrupt_on_error, values.timeout, values.payload_type) == (
            "restCall",
            True,
            "1.5",
            "PAYLOAD_TYPE_JSON",
        )


class TestLabels:
    def test_whole_seconds_keep_no_point(self) -> None:
        """The duration "10s" reads 10 and "0.250s" reads 0.25."""
        assert (seconds_of("10s"), seconds_of("0.250s")) == ("10", "0.25")

    def test_type_and_interrupt_flag(self) -> None:
        """An async target reads "REST async" and does not interrupt."""
        assert (type_label({"restAsync": {}}), interrupts({"restAsync": {}})) == ("REST async", False)

    def test_conditions_in_words(self) -> None:
        """Method, all and function conditions read as their kind and member."""
        method = {"request": {"method": "/a.B/C"}}
        assert [condition_label(c) for c in (method, {"event": {"all": True}}, {"function": {"name": "f"}})] == [
            "request: method /a.B/C",
            "event: all",
            "function: name f",
        ]


class TestExpiry:
    def test_local_time_is_read_as_utc(self) -> None:
        """A datetime-local value is sent as a UTC timestamp; blank is no expiry."""
        assert (expiry_timestamp("2099-05-01T12:30"), expiry_timestamp(" ")) == ("2099-05-01T12:30:00Z", None)

    def test_garbage_is_passed_on_for_the_api_to_refuse(self) -> None:
        """A value that is no date is sent as typed, so the API's message explains it."""
        assert expiry_timestamp("soon") == "soon"
