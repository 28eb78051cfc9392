"""Errors the engine raises on bad input.

`InputError` carries a one-line message that says what was wrong and what is
allowed; the command line prints it and exits with status 2, the studio shows
it next to the control that caused it.
"""


class InputError(ValueError):
    """Bad input from the user: a one-line, specific message."""
