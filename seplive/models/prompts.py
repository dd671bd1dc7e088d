"""Prompt names (TUSS's vocabulary) and the aliases users may type."""

from __future__ import annotations

#: the prompt vocabulary of TUSS, which seplive uses everywhere
PROMPTS: tuple[str, ...] = ("speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg")

#: the stem that is always there: input minus the selected stems
REST = "rest"

ALIASES: dict[str, str] = {
    "voice": "speech",
    "dialogue": "speech",
    "dialog": "speech",
    "vocal": "vocals",
    "singing": "vocals",
    "instrumental": "musicbg",
    "music": "musicbg",
    "accompaniment": "musicbg",
    "melody": "other",
    "drum": "drums",
    "percussion": "drums",
    "effects": "sfx",
    "fx": "sfx",
    "ambience": "sfxbg",
    "background": "sfxbg",
}


def canonical(name: str) -> str:
    """Lower-case ``name`` and resolve aliases (``voice`` -> ``speech``)."""
    key = name.strip().lower()
    return ALIASES.get(key, key)
