from . import hooks, loops, optim_wrappers, schedulers
from .hooks import *  # noqa: F401,F403
from .loops import *  # noqa: F401,F403
from .optim_wrappers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403

__all__ = (hooks.__all__ + loops.__all__ + optim_wrappers.__all__ +
           schedulers.__all__)
