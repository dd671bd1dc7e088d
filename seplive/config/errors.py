"""The one error class of the config kit."""

from __future__ import annotations

#: the longest message a :class:`ConfigError` keeps (a file may quote a long value)
MAX_MESSAGE = 1000


class ConfigError(ValueError):
    """A setting, preset, MIDI map or training config that cannot be used.

    The message is one line: control characters that a file or a variable quoted are
    escaped (a newline as ``\\n``), and it is cut at :data:`MAX_MESSAGE` characters.
    """

    def __init__(self, message: str) -> None:
        line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))
        if len(line) > MAX_MESSAGE:
            line = line[: MAX_MESSAGE - 3] + "..."
        super().__init__(line)
