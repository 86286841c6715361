import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import pyserini_milco  # noqa: E402,F401  (configures Java before any pyserini import)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def official_checkpoint(tmp_path_factory):
    """A tiny random checkpoint in the release's layout, and the model it was written from."""
    from tiny import write_official_layout

    folder = tmp_path_factory.mktemp("ckpt") / "milco-tiny"
    model = write_official_layout(folder)
    return folder, model
