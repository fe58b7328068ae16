"""Registries of dense_contrast.

Every node is a child of the matching mmpretrain node, under the scope
``dense_contrast``. With ``default_scope = 'dense_contrast'`` a config resolves
the project's own types first and then everything mmpretrain (and mmengine)
registers: ``ResNet``, ``SelfSupDataPreprocessor``, ``MultiView``,
``PackInputs``, ``DenseCLHook`` and so on. ``locations`` makes a lookup import
the module that registers a type, so building by name needs no star imports.

mmdet and mmseg configs reach a project type as ``dense_contrast.<Type>``:
mmengine resolves a dotted name it cannot find in its registry tree by
importing it as a Python path, and :mod:`dense_contrast` exports its public
types at the top level for that reason.

A type that needs an optional dependency (``VOCCocoStyleMetric`` needs mmdet)
is a lazy entry of its node (:class:`LazyEntryRegistry`): the module that
registers it is imported when the name is looked up, not with the package.
"""
import importlib
from typing import Dict, Optional, Type

from mmengine.registry import Registry
from mmpretrain.registry import DATA_SAMPLERS as MMPRETRAIN_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import EVALUATORS as MMPRETRAIN_EVALUATORS
from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRETRAIN_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRETRAIN_LOOPS
from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRETRAIN_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRETRAIN_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRETRAIN_PARAM_SCHEDULERS
from mmpretrain.registry import RUNNERS as MMPRETRAIN_RUNNERS
from mmpretrain.registry import TASK_UTILS as MMPRETRAIN_TASK_UTILS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRETRAIN_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRETRAIN_VISUALIZERS
from mmpretrain.registry import \
    WEIGHT_INITIALIZERS as MMPRETRAIN_WEIGHT_INITIALIZERS

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'METRICS', 'EVALUATORS',
    'VISUALIZERS', 'VISBACKENDS'
]

SCOPE = 'dense_contrast'


class LazyEntryRegistry(Registry):
    """A registry node that imports some entries' modules on lookup.

    ``locations`` are imported at the first lookup of any name, so a module
    whose import needs an optional dependency cannot be one of them (every
    lookup would need the dependency). Such a module is listed in ``lazy``
    instead, under the names it registers, and imported only when one of
    them is looked up in this node (by its bare name or as
    ``dense_contrast.<Name>``); its import errors (e.g.
    :class:`~dense_contrast.utils.extras.MissingExtraError`) propagate.

    Args:
        *args: Positional arguments of :class:`mmengine.registry.Registry`.
        lazy (dict[str, str], optional): Registered name -> module that
            registers it. Defaults to None (no lazy entries).
        **kwargs: Keyword arguments of :class:`mmengine.registry.Registry`.
    """

    def __init__(self,
                 *args,
                 lazy: Optional[Dict[str, str]] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: Dict[str, str] = dict(lazy or {})

    def get(self, key: str) -> Optional[Type]:
        """Import the module of a lazy entry if needed, then look ``key`` up.

        Args:
            key (str): The name, optionally with a scope prefix.

        Returns:
            type, optional: What :meth:`mmengine.registry.Registry.get`
            returns.
        """
        scope, name = self.split_scope_key(key)
        if (scope in (None, self.scope) and name in self.lazy
                and name not in self.module_dict):
            importlib.import_module(self.lazy[name])
        return super().get(key)


#: Where mmpretrain 1.2 registers the types of each node (its registries'
#: ``locations``).
MMPRETRAIN_LOCATIONS = {
    **dict.fromkeys(('runner', 'loop', 'hook', 'log processor', 'optimizer',
                     'optim_wrapper', 'optimizer wrapper constructor',
                     'parameter scheduler'), 'engine'),
    **dict.fromkeys(('dataset', 'data sampler', 'transform'), 'datasets'),
    **dict.fromkeys(('model', 'model_wrapper', 'weight initializer',
                     'task util'), 'models'),
    **dict.fromkeys(('metric', 'evaluator'), 'evaluation'),
    **dict.fromkeys(('visualizer', 'vis_backend'), 'visualization'),
}


def _child(name: str,
           parent: Registry,
           location: Optional[str],
           lazy: Optional[Dict[str, str]] = None) -> Registry:
    """A child of an mmpretrain node.

    Args:
        name (str): Registry name.
        parent (Registry): The mmpretrain node.
        location (str, optional): The subpackage of this project that
            registers its types (None while the project registers none).
        lazy (dict[str, str], optional): Types whose module needs an
            optional dependency: name -> module, imported on lookup (see
            :class:`LazyEntryRegistry`). Defaults to None.

    Returns:
        Registry: The node. Its locations also list the mmpretrain
        subpackage of the parent (mmpretrain's own ``locations``), because a
        lookup imports only the locations of the registry it starts from: a
        config in this scope naming an mmpretrain type (``DenseCLHook``)
        must import mmpretrain's module that registers it.
    """
    locations = [] if location is None else [f'{SCOPE}.{location}']
    # The mmpretrain subpackage registering this node's types: 'engine' for
    # hooks and loops, 'datasets', 'models', 'evaluation', 'visualization'.
    locations.append(f'mmpretrain.{MMPRETRAIN_LOCATIONS[name]}')
    return LazyEntryRegistry(
        name, parent=parent, scope=SCOPE, locations=locations, lazy=lazy)


# engine
RUNNERS = _child('runner', MMPRETRAIN_RUNNERS, 'engine')
LOOPS = _child('loop', MMPRETRAIN_LOOPS, 'engine')
HOOKS = _child('hook', MMPRETRAIN_HOOKS, 'engine')
LOG_PROCESSORS = _child('log processor', MMPRETRAIN_LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child('optimizer', MMPRETRAIN_OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child('optim_wrapper', MMPRETRAIN_OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMPRETRAIN_PARAM_SCHEDULERS,
                          'engine')

# datasets
DATASETS = _child('dataset', MMPRETRAIN_DATASETS, 'datasets')
DATA_SAMPLERS = _child('data sampler', MMPRETRAIN_DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child('transform', MMPRETRAIN_TRANSFORMS, 'datasets')

# models
MODELS = _child('model', MMPRETRAIN_MODELS, 'models')
MODEL_WRAPPERS = _child('model_wrapper', MMPRETRAIN_MODEL_WRAPPERS, 'models')
WEIGHT_INITIALIZERS = _child('weight initializer',
                             MMPRETRAIN_WEIGHT_INITIALIZERS, 'models')
TASK_UTILS = _child('task util', MMPRETRAIN_TASK_UTILS, 'models')

# evaluation
METRICS = _child(
    'metric',
    MMPRETRAIN_METRICS,
    'evaluation',
    # Needs mmdet (the 'downstream' extra).
    lazy={'VOCCocoStyleMetric': f'{SCOPE}.evaluation.voc_metric'})
EVALUATORS = _child('evaluator', MMPRETRAIN_EVALUATORS, 'evaluation')

# visualization
VISUALIZERS = _child('visualizer', MMPRETRAIN_VISUALIZERS, None)
VISBACKENDS = _child('vis_backend', MMPRETRAIN_VISBACKENDS, None)
