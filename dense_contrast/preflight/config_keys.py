"""Check a config's keys and types against the registries and the
constructors they build: unknown keys and types, with the nearest valid
name, plain values of the wrong type, misspelt Runner keys."""
import difflib
import inspect
from typing import Any, Iterable, List, Optional, Set

from mmengine.config import Config
from mmengine.registry import DefaultScope, Registry

from .origin import KeyOrigin
from .signatures import accepted_arguments, type_problem

__all__ = ['RUNNER_KEYS', 'check_config_keys']

# Keys mmengine's ``Runner.from_cfg`` reads, plus the usual config helpers.
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'custom_imports', 'model_wrapper_cfg', 'vis_backends', 'compile',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'strategy')

# Keys that mmengine's builders consume themselves, on top of the
# constructor's arguments.
_BUILDER_KEYS = {
    'dataloader': {
        'dataset', 'sampler', 'batch_sampler', 'collate_fn',
        'num_batch_per_epoch', 'worker_init_fn'
    },
    'optim_wrapper': {'type', 'constructor', 'paramwise_cfg', 'optimizer'},
    'param_scheduler': {'type', 'convert_to_iter_based'},
    'train_cfg': {'type', 'by_epoch'},
}

# Similarity below which difflib's suggestion is not shown.
_SUGGEST_CUTOFF = 0.6
# A top-level name this close to a Runner key but not equal is a typo.
_TYPO_CUTOFF = 0.85


def _registry_names(registry: Registry) -> List[str]:
    """Every type name a registry resolves without a scope prefix."""
    names: Set[str] = set()
    node: Optional[Registry] = registry
    while node is not None:
        try:
            node.import_from_location()
        except Exception:  # noqa: BLE001
            pass
        names.update(node.module_dict)
        node = node.parent
    return sorted(names)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    close = difflib.get_close_matches(
        name, list(candidates), n=1, cutoff=_SUGGEST_CUTOFF)
    return f" (did you mean {close[0]!r}?)" if close else ''


class _KeyChecker:
    """Walks a config and collects unknown keys, types and bad values."""

    def __init__(self, cfg: Config, origin: KeyOrigin) -> None:
        from dense_contrast import registry
        self.cfg = cfg
        self.origin = origin
        self.reg = registry
        self.problems: List[str] = []

    def add(self,
            dotted: str,
            message: str,
            value: Optional[str] = None) -> None:
        self.problems.append(
            f'{self.origin(dotted, value)}: {dotted}: {message}')

    def resolve(self, type_name: Any, registry: Registry,
                dotted: str) -> Optional[type]:
        """Look ``type_name`` up; record a problem when it is unknown."""
        if not isinstance(type_name, str):
            return type_name if inspect.isclass(type_name) else None
        try:
            found = registry.get(type_name)
        except Exception as err:  # noqa: BLE001  (bad scope prefix, import)
            self.add(f'{dotted}.type',
                     f'cannot resolve type {type_name!r}: {err}')
            return None
        if found is None:
            names = _registry_names(registry)  # imports lazy locations
            found = registry.get(type_name)
        if found is None:
            self.add(
                f'{dotted}.type', f'unknown type {type_name!r} in the '
                f'{registry.name!r} registry' +
                _suggest(type_name.split('.')[-1], names),
                value=type_name)
        return found if inspect.isclass(found) else None

    def check_args(self,
                   node: dict,
                   cls: Optional[type],
                   dotted: str,
                   extra: Iterable[str] = (),
                   provided: Iterable[str] = ()) -> None:
        """Check the keys of ``node`` against ``cls``'s constructor.

        Args:
            node (dict): The config dict.
            cls (type, optional): The class it builds; None skips the check.
            dotted (str): Its dotted path.
            extra (Iterable[str]): Keys a builder consumes besides the
                constructor's arguments.
            provided (Iterable[str]): Arguments the builder passes itself
                (e.g. ``params`` of an optimizer): not valid in the config.
        """
        if cls is None:
            return
        params = accepted_arguments(cls)
        if params is None:
            return
        valid = (set(params) - set(provided)) | set(extra) | {'type', '_scope_'}
        for key, value in node.items():
            if key not in valid:
                self.add(
                    f'{dotted}.{key}', f'{cls.__name__} has no argument '
                    f'{key!r}' + _suggest(key, sorted(valid - {'_scope_'})))
            elif key in params:
                problem = type_problem(value, params[key])
                if problem:
                    self.add(f'{dotted}.{key}', problem)

    def typed(self,
              node: Any,
              registry: Registry,
              dotted: str,
              default_type: Optional[type] = None,
              extra: Iterable[str] = (),
              provided: Iterable[str] = ()) -> Optional[type]:
        """Resolve and check one ``dict(type=...)`` node."""
        if not isinstance(node, dict):
            return None
        cls = (self.resolve(node['type'], registry, dotted)
               if 'type' in node else default_type)
        self.check_args(node, cls, dotted, extra, provided)
        return cls

    def nested_types(self, node: Any, dotted: str) -> None:
        """Only check that nested ``type`` names exist (no argument check:
        builders such as ``build_norm_layer`` take extra keys)."""
        if isinstance(node, dict):
            if isinstance(node.get('type'), str):
                registry = (
                    self.reg.WEIGHT_INITIALIZERS
                    if 'init_cfg' in dotted.split('.') else
                    self.reg.MODELS)
                if registry.get(node['type']) is None and (
                        self.reg.TASK_UTILS.get(node['type']) is None):
                    self.resolve(node['type'], registry, dotted)
            for key, value in node.items():
                self.nested_types(value, f'{dotted}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                self.nested_types(value, f'{dotted}.{i}')

    def model(self) -> None:
        model = self.cfg.get('model')
        if not isinstance(model, dict):
            return
        self.typed(model, self.reg.MODELS, 'model')
        for key, value in model.items():
            if isinstance(value, dict) and 'type' in value and key in (
                    'backbone', 'neck', 'head', 'data_preprocessor'):
                self.typed(value, self.reg.MODELS, f'model.{key}')
                for sub_key, sub in value.items():
                    self.nested_types(sub, f'model.{key}.{sub_key}')
            elif key != 'type':
                self.nested_types(value, f'model.{key}')

    def pipeline(self, steps: Any, dotted: str) -> None:
        if not isinstance(steps, (list, tuple)):
            return
        for i, step in enumerate(steps):
            where = f'{dotted}.{i}'
            if isinstance(step, (list, tuple)):  # MultiView: list of lists
                self.pipeline(step, where)
            elif isinstance(step, dict):
                self.typed(step, self.reg.TRANSFORMS, where)
                if 'transforms' in step:
                    self.pipeline(step['transforms'], f'{where}.transforms')

    def dataset(self, node: Any, dotted: str) -> None:
        if not isinstance(node, dict):
            return
        self.typed(node, self.reg.DATASETS, dotted)
        self.pipeline(node.get('pipeline'), f'{dotted}.pipeline')
        self.dataset(node.get('dataset'), f'{dotted}.dataset')
        for i, sub in enumerate(node.get('datasets') or ()):
            self.dataset(sub, f'{dotted}.datasets.{i}')

    def dataloaders(self) -> None:
        from torch.utils.data import DataLoader
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            loader = self.cfg.get(name)
            if not isinstance(loader, dict):
                continue
            self.check_args(loader, DataLoader, name,
                            _BUILDER_KEYS['dataloader'])
            self.dataset(loader.get('dataset'), f'{name}.dataset')
            self.typed(loader.get('sampler'), self.reg.DATA_SAMPLERS,
                       f'{name}.sampler', provided=('dataset', 'seed'))
            collate = loader.get('collate_fn')
            if isinstance(collate, dict) and isinstance(
                    collate.get('type'), str):
                from mmengine.registry import FUNCTIONS
                self.resolve(collate['type'], FUNCTIONS,
                             f'{name}.collate_fn')

    def hooks(self) -> None:
        for i, hook in enumerate(self.cfg.get('custom_hooks') or ()):
            self.typed(hook, self.reg.HOOKS, f'custom_hooks.{i}',
                       extra=('priority', ))
        for name, hook in (self.cfg.get('default_hooks') or {}).items():
            self.typed(hook, self.reg.HOOKS, f'default_hooks.{name}',
                       extra=('priority', ))

    def optimisation(self) -> None:
        from mmengine.optim import OptimWrapper
        wrapper = self.cfg.get('optim_wrapper')
        if isinstance(wrapper, dict) and 'constructor' not in wrapper:
            self.typed(wrapper, self.reg.OPTIM_WRAPPERS, 'optim_wrapper',
                       default_type=OptimWrapper,
                       extra=_BUILDER_KEYS['optim_wrapper'])
            self.typed(wrapper.get('optimizer'), self.reg.OPTIMIZERS,
                       'optim_wrapper.optimizer', provided=('params', ))
        schedulers = self.cfg.get('param_scheduler')
        if isinstance(schedulers, dict):
            schedulers = [schedulers]
        for i, scheduler in enumerate(schedulers or ()):
            self.typed(scheduler, self.reg.PARAM_SCHEDULERS,
                       f'param_scheduler.{i}',
                       extra=_BUILDER_KEYS['param_scheduler'],
                       provided=('optimizer', ))
        train_cfg = self.cfg.get('train_cfg')
        if isinstance(train_cfg, dict):
            from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
            default = (EpochBasedTrainLoop if train_cfg.get('by_epoch', True)
                       and 'max_iters' not in train_cfg else
                       IterBasedTrainLoop)
            self.typed(train_cfg, self.reg.LOOPS, 'train_cfg',
                       default_type=default,
                       extra=_BUILDER_KEYS['train_cfg'],
                       provided=('runner', 'dataloader'))

    def visualisation(self) -> None:
        visualizer = self.cfg.get('visualizer')
        if isinstance(visualizer, dict) and 'type' in visualizer:
            self.resolve(visualizer['type'], self.reg.VISUALIZERS,
                         'visualizer')
        backends = (visualizer or {}).get('vis_backends') if isinstance(
            visualizer, dict) else None
        for i, backend in enumerate(backends or ()):
            if isinstance(backend, dict) and 'type' in backend:
                self.resolve(backend['type'], self.reg.VISBACKENDS,
                             f'visualizer.vis_backends.{i}')

    def top_level(self) -> None:
        for key in self.cfg.keys():
            if key in RUNNER_KEYS or key.startswith('_'):
                continue
            close = difflib.get_close_matches(
                key, RUNNER_KEYS, n=1, cutoff=_TYPO_CUTOFF)
            if close:
                self.add(
                    key, f'not a setting mmengine reads; did you mean '
                    f'{close[0]!r}? (as written it is ignored)')

    def run(self) -> List[str]:
        self.top_level()
        self.model()
        self.dataloaders()
        self.hooks()
        self.optimisation()
        self.visualisation()
        return self.problems


def check_config_keys(cfg: Config,
                      config_path: Optional[str] = None,
                      cfg_options: Optional[dict] = None) -> List[str]:
    """Find unknown keys, unknown types and wrongly typed plain values.

    Checked: the model and its backbone/neck/head/data preprocessor (all
    arguments), nested model types (names only), the dataloaders, their
    datasets, samplers and pipelines, hooks, the optimiser wrapper,
    optimiser, parameter schedulers, the train loop and the visualizer.

    Args:
        cfg (Config): The merged config.
        config_path (str, optional): Its file, to name the file that sets a
            bad key.
        cfg_options (dict, optional): The ``--cfg-options`` overrides.

    Returns:
        list[str]: One line per problem: ``<file>: <dotted key>: <message>``.
    """
    scope = cfg.get('default_scope', 'dense_contrast')
    with DefaultScope.overwrite_default_scope(scope):
        return _KeyChecker(cfg, KeyOrigin(config_path, cfg_options)).run()
