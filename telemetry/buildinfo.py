"""The version and commit this build reports (``/version``, ``build_info`` metrics).

``VERSION`` must equal ``version`` in ``pyproject.toml`` and the newest release
in ``CHANGELOG.md``; ``hack/validate_release_metadata.py`` checks that. The
commit comes from the image build (``GIT_COMMIT`` baked in at build time).
"""

from __future__ import annotations

import os

VERSION = "0.1.0"


def commit() -> str:
    """Return the source commit this build was made from, or ``unknown``."""
    return os.environ.get("GIT_COMMIT", "").strip() or "unknown"
