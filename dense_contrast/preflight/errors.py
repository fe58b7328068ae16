"""The error every pre-flight check raises."""

__all__ = ['ConfigValidationError']


class ConfigValidationError(ValueError):
    """Bad input found before training; the message says what to change."""
