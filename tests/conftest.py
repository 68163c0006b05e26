import os
import sys

# Nothing in the test suite may wait on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# `generate.py` and friends live at the repository root, like upstream LLaDA's.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
