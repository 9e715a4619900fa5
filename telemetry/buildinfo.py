"""The version and commit this build reports (``/version``, ``build_info`` metrics).

``VERSION`` must equal ``version`` in ``pyproject.toml`` and the newest release
in ``CHANGELOG.md``; ``hack/validate_release_metadata.py`` checks that. The
commit comes from the image build (``GIT_COMMIT`` baked in at build time).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from telemetry.config import env_str

VERSION = "0.1.0"


def commit(environ: Mapping[str, str] = os.environ) -> str:
    """Return the source commit this build was made from, or ``unknown``.

    Raises:
        telemetry.config.ConfigError: ``GIT_COMMIT`` is not UTF-8 text (each
            program reads it with its settings, so that stops start-up).
    """
    return env_str(environ, "GIT_COMMIT", "unknown")
