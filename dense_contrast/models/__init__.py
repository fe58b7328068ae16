from .algorithms import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .algorithms import __all__ as _algorithms
from .heads import __all__ as _heads
from .necks import __all__ as _necks
from .utils import __all__ as _utils

__all__ = _algorithms + _heads + _necks + _utils
