"""Generated blocks of the docs: the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``.

Every table a document shows from committed results is written between such markers by the code that
computes it, never typed. Standard library only, so the table scripts in ``scripts/`` use it with any
Python 3.
"""

from __future__ import annotations


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def between(doc: str, name: str) -> str:
    """The text of block ``name`` in ``doc``, without its markers and surrounding blank lines.

    Raises:
        ValueError: ``doc`` lacks either marker.
    """
    begin, end = _checked(doc, name)
    return doc.split(begin, 1)[1].split(end, 1)[0].strip()


def replace_between(doc: str, name: str, text: str) -> str:
    """``doc`` with block ``name`` holding ``text``.

    Raises:
        ValueError: ``doc`` lacks either marker.
    """
    begin, end = _checked(doc, name)
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{text}\n{end}{tail}"


def _checked(doc: str, name: str) -> tuple[str, str]:
    begin, end = markers(name)
    if begin not in doc or end not in doc:
        raise ValueError(f"the document lacks the markers {begin} ... {end} of its generated block {name!r}")
    return begin, end
