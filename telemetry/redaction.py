"""Redaction of credentials from free text before it is logged.

The policy (operations runbook, "Redaction Policy") covers key/value pairs whose
key names a ``token``, ``password``, ``secret``, ``api_key`` or
``authorization``; ``Bearer`` tokens; and credentials in URL query strings.
Credentials in a URL's userinfo (``scheme://user:password@host``) are redacted
too, because database URLs such as ``JOURNAL_URL`` carry them there.

Redaction is deliberately conservative about what counts as a key: the key must
*end* in one of the sensitive words, so ``max_tokens=5`` or ``secret_name=x``
stay readable while ``access_token=...`` and ``DB_PASSWORD=...`` do not.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

# The most characters of error text (an API server's message, an exception's
# text) kept in a journal record: enough for any Status message we have seen,
# small enough that a server echoing a whole object back cannot bloat the journal.
MAX_ERROR_TEXT = 512

# Words that make a key sensitive when the key ends with them.
_SENSITIVE_KEY = r"(?:token|passw(?:or)?d|pwd|secret|api[_-]?key|apikey|authorization|credentials?)"

# Authorization schemes that precede the credential itself.
_SCHEME = r"(?:Bearer|Basic|Digest|Token|Negotiate|Bot)"

# A key: optional prefix made of word characters, dots and dashes, ending in a
# sensitive word, not preceded by another word character (so "mytoken" in
# "notmytoken" still counts as one key, but a sensitive word inside a longer
# word followed by more letters does not match).
_KEY = rf"(?P<key>(?<![\w.-])[\w.-]*?{_SENSITIVE_KEY})"

# key, optional closing quote of a quoted key, separator, then the value.
# A quoted value runs to its closing quote; a bare one to whitespace or a
# delimiter that cannot be part of a credential in prose, URLs or headers.
_KEY_VALUE = re.compile(
    _KEY
    + r"""(?P<sep>["']?\s*[:=]\s*)"""
    # Already redacted values are left alone, so redaction is idempotent.
    + rf"""(?!(?:{_SCHEME}\s+)?\[REDACTED\])"""
    + rf"""(?:(?P<scheme>{_SCHEME})\s+)?"""
    + r"""(?:(?P<quote>["'])(?P<qvalue>(?:\\.|(?!(?P=quote)).)*)(?P=quote)"""
    + r"""|(?P<value>[^\s"'&,;)}\]<>]+))""",
    re.IGNORECASE,
)

# A bearer token on its own ("... sent Bearer eyJhbGciOi..."). The token must
# hold a character other than a letter so that prose ("bearer of news") stays.
_BEARER = re.compile(
    r"\b(?P<scheme>(?i:bearer))\s+"
    r"(?P<value>(?=[A-Za-z0-9\-._~+/]*[0-9\-._~+/])[A-Za-z0-9\-._~+/]{8,}=*)"
)

# scheme://user:password@host  ->  scheme://user:[REDACTED]@host
_URL_USERINFO = re.compile(
    r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)(?P<value>[^\s@/]+)@"
)


def _may_hold_credential(text: str) -> bool:
    """Return whether ``text`` has what every pattern above needs.

    That is a ":" or "=" (key/value pairs, URL userinfo) or the word "bearer"
    in any case. Text with none of them (most paths, methods, messages) is
    returned after this check instead of three substitutions: the web app
    redacts several fields of every access line. Substring tests cost a
    third of a case-insensitive regular expression search.
    """
    return ":" in text or "=" in text or "bearer" in text.lower()


def _replace_key_value(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    value = match.group("qvalue") if match.group("quote") is not None else match.group("value")
    if value == REDACTED or (not value and scheme is None):
        return match.group(0)
    head = match.group("key") + match.group("sep") + (f"{scheme} " if scheme else "")
    if match.group("quote") is not None:
        quote = match.group("quote")
        return f"{head}{quote}{REDACTED}{quote}"
    return f"{head}{REDACTED}"


def _replace_bearer(match: re.Match[str]) -> str:
    if match.group("value") == REDACTED:
        return match.group(0)
    return f"{match.group('scheme')} {REDACTED}"


def redact(text: str) -> str:
    """Return ``text`` with every credential the policy covers replaced by ``[REDACTED]``.

    Args:
        text: Free text: a log message, an exception's text, a URL or a header.

    Returns:
        The same text with credentials replaced; text without credentials is
        returned unchanged.
    """
    if not text or not _may_hold_credential(text):
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m.group('prefix')}{REDACTED}@", text)
    text = _KEY_VALUE.sub(_replace_key_value, text)
    return _BEARER.sub(_replace_bearer, text)


def bounded(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """Return ``text`` redacted, on one line and at most ``limit`` characters long.

    For error text that is journaled: redaction comes first, so that a cut
    never leaves half a credential that the patterns no longer recognise (a
    quoted value whose closing quote was cut off, say). A text that is cut ends
    in ``...``.
    """
    line = " ".join(redact(str(text)).split())
    if len(line) > limit:
        line = line[: max(0, limit - 3)] + "..."
    return line
