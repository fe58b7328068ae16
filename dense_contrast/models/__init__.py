from .algorithms import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .algorithms import __all__ as _algorithms
from .heads import __all__ as _heads
from .losses import __all__ as _losses
from .necks import __all__ as _necks
from .utils import __all__ as _utils

__all__ = _algorithms + _heads + _losses + _necks + _utils
