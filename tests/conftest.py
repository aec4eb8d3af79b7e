import os
import sys
import tempfile
from pathlib import Path

# Test modules share small helpers (tests/advise/test_catalog.py's per-domain tasks).
sys.path.insert(0, str(Path(__file__).parent / "advise"))

# Never read or write the user's calibration cache: every test session gets its own.
os.environ["MODELPICK_CACHE_DIR"] = tempfile.mkdtemp(prefix="modelpick-test-cache-")
