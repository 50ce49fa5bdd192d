"""The one root exception of the project, and its kinds."""


class AftercareError(Exception):
    """Base class for errors this project raises on purpose."""


class ProtocolError(AftercareError):
    """A protocol file is malformed; the message names file, step and field."""


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
