"""Markdown for PR comments and job summaries, from untrusted text.

Request files are written by the requester: their text must not add markup, @-mentions, HTML or
break out of a table row in what reviewers read.
"""

from __future__ import annotations


def text(value: str) -> str:
    """Plain inline text: markup characters escaped, mentions defused, one line."""
    return (
        value.replace("\\", "\\\\")
        .replace("\n", " ")
        .replace("\r", " ")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("`", "'")
        .replace("@", "@\u200b")
        .replace("*", "\\*")
        .replace("_", "\\_")
        .replace("[", "\\[")
        .replace("]", "\\]")
        .replace("|", "\\|")
    )


def code(value: str) -> str:
    """An inline code span (shown verbatim); a pipe is escaped so table rows stay whole."""
    flat = value.replace("`", "'").replace("\n", " ").replace("\r", " ").replace("|", "\\|")
    return f"`{flat}`"
