from . import hooks, optim_wrappers
from .hooks import *  # noqa: F401,F403
from .optim_wrappers import *  # noqa: F401,F403

__all__ = hooks.__all__ + optim_wrappers.__all__
