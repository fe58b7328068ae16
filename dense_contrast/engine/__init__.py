from .hooks import *  # noqa: F401,F403
from .hooks import __all__
