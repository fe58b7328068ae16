import os

import pytest
import torch

# Two cores: keep intra-op threads at the machine's size, and let tests that
# spawn processes set their own.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same global RNG state."""
    torch.manual_seed(0)
    yield
