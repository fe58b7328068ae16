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


TINY_TOYSCENES = dict(num_train=12, num_val=2, num_test=2, img_size=64)


@pytest.fixture(scope='session')
def tiny_toyscenes(tmp_path_factory):
    """A 12-image toy scenes folder shared by the runner tests.

    Returns:
        tuple[str, dict]: The root and the generator arguments, which a
        ``ToyScenesDataset`` config must repeat (they are checked against
        the folder's meta.json).
    """
    from dense_contrast.datasets import ensure_toyscenes
    root = str(tmp_path_factory.mktemp('toyscenes'))
    ensure_toyscenes(root, progress=False, **TINY_TOYSCENES)
    return root, TINY_TOYSCENES
