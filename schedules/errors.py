"""The one root exception of the project, and its kinds."""


class AftercareError(Exception):
    """Base class for errors this project raises on purpose."""


class ProtocolError(AftercareError):
    """A protocol file is malformed; the message names file, step and field.

    ``located`` holds each problem's line with the index of the step it is about (None:
    the document as a whole), so a page can show a problem beside its step.
    """

    def __init__(
        self, message: str, located: tuple[tuple[int | None, str], ...] | None = None
    ) -> None:
        super().__init__(message)
        self.located = located or tuple((None, line) for line in message.splitlines())


class InputError(AftercareError):
    """A person typed something we cannot use; the message says what we expected.

    ``reason`` and ``values`` let the edge say the same in the person's language
    (the English message is for logs, the CLI and tests).
    """

    def __init__(self, message: str, *, reason: str = "invalid", **values: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


class RulesError(AftercareError):
    """A triage rules file is malformed; the message names file, rule and field."""
