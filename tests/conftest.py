import sys
from pathlib import Path

# Test modules share small helpers (tests/test_catalog.py's per-domain tasks).
sys.path.insert(0, str(Path(__file__).parent))
