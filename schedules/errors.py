"""The one root exception of the project, and its kinds."""


class AftercareError(Exception):
    """Base class for errors this project raises on purpose."""


class ProtocolError(AftercareError):
    """A protocol file is malformed; the message names file, step and field."""


class InputError(AftercareError):
    """A person typed something we cannot use; the message says what we expected."""
