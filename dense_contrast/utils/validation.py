"""Pre-flight checks: refuse bad input before any compute is spent.

``tools/train.py`` calls :func:`preflight_check` after the command line has
been merged into the config and before mmengine's ``Runner`` is built. Each
problem is reported with where it comes from (config file and dotted key,
``--cfg-options``, data folder, checkpoint) and what was expected:

* unknown config keys (``model.neck.hid_channel``) and unknown types
  (``type='DenseCLL'``), with the nearest valid name (``difflib``), and plain
  values of the wrong type where the constructor annotates ``int``,
  ``float``, ``bool`` or ``str``;
* a top-level key that looks like a misspelt Runner key
  (``param_schedulers`` for ``param_scheduler``);
* a missing or empty data root, an image folder without readable images, a
  batch larger than the dataset;
* a queue shorter than the global batch (batch size x processes);
* a checkpoint given to ``--resume`` (or to the extract tool) that belongs to
  another method or backbone depth: the keys that differ are listed.

The checks only read the config, list folders (stopping as soon as enough
images were seen), decode at most a few images and, for a checkpoint, build
the model once on the CPU. They never run a forward pass.
"""
import copy
import difflib
import inspect
import os
import os.path as osp
import re
import types
import typing
from typing import (Any, Dict, Iterable, Iterator, List, Optional, Sequence,
                    Set, Tuple)

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, Registry

__all__ = [
    'ConfigValidationError', 'preflight_check', 'check_config_keys',
    'check_train_data', 'check_queue_length', 'check_checkpoint_matches',
    'describe_backbone', 'find_resume_checkpoint'
]

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
# Images tried before an image folder is declared unreadable.
_MAX_DECODE_TRIES = 16


class ConfigValidationError(ValueError):
    """Bad input found before training; the message says what to change."""


# ---------------------------------------------------------------------------
# Where a key comes from


def _config_files(path: str) -> List[str]:
    """The config file and every ``_base_`` file it inherits, leaf first.

    Args:
        path (str): A config file.

    Returns:
        list[str]: Paths as given (relative paths resolved against the
        directory of the file that names them).
    """
    files, todo = [], [path]
    while todo:
        current = todo.pop(0)
        if current in files or not osp.isfile(current):
            continue
        files.append(current)
        try:
            bases = Config._get_base_files(current)
        except Exception:  # noqa: BLE001  (a best-effort hint only)
            bases = []
        todo.extend(
            osp.normpath(osp.join(osp.dirname(current), base))
            for base in bases if '::' not in base)
    return files


class _Origin:
    """Names the file (or ``--cfg-options``) that sets a dotted key.

    Args:
        config_path (str, optional): The config given on the command line.
        cfg_options (dict, optional): The ``--cfg-options`` overrides.
    """

    def __init__(self,
                 config_path: Optional[str],
                 cfg_options: Optional[dict] = None) -> None:
        self.files = _config_files(config_path) if config_path else []
        self.options = {str(k) for k in (cfg_options or {})}
        self._texts: Dict[str, str] = {}

    def _text(self, path: str) -> str:
        if path not in self._texts:
            with open(path, encoding='utf-8') as f:
                self._texts[path] = f.read()
        return self._texts[path]

    def __call__(self, dotted: str, value: Optional[str] = None) -> str:
        """Describe where ``dotted`` (e.g. ``model.neck.hid_channel``) is set.

        Args:
            dotted (str): The dotted key.
            value (str, optional): Its string value; when given, the file
                that spells it (e.g. a type name) is searched instead.

        Returns:
            str: e.g. ``"configs/_base_/models/densecl_r50.py"`` or
            ``"--cfg-options"``; ``"the config"`` when nothing matches.
        """
        if any(opt == dotted or opt.startswith(dotted + '.')
               for opt in self.options):
            return '--cfg-options'
        leaf = dotted.rsplit('.', 1)[-1]
        if leaf.isdigit():  # a list index: look for the enclosing key
            leaf = dotted.split('.')[-2]
        pattern = re.compile(rf'(?<![\w.]){re.escape(leaf)}\s*=')
        if value is not None:
            pattern = re.compile(rf'[\'"]{re.escape(value)}[\'"]')
        found = [f for f in self.files if pattern.search(self._text(f))]
        if found:
            return found[0]
        return self.files[0] if self.files else 'the config'


# ---------------------------------------------------------------------------
# Keys and types


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


def accepted_arguments(cls: type) -> Optional[Dict[str, inspect.Parameter]]:
    """The keyword arguments a class's constructor accepts.

    ``**kwargs`` is followed up the MRO: ``DenseCL(**kwargs)`` hands them to
    ``BaseDenseContrast.__init__``, whose named arguments then count too.

    Args:
        cls (type): The class.

    Returns:
        dict[str, inspect.Parameter], optional: Name to parameter; None when
        the constructor takes arbitrary keywords that reach no named
        parameter (nothing can be checked).
    """
    params: Dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is object:
            return None  # **kwargs swallowed somewhere we cannot see
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            return None
        has_var_kw = False
        for param in list(signature.parameters.values())[1:]:
            if param.kind in (param.POSITIONAL_OR_KEYWORD,
                              param.KEYWORD_ONLY):
                params.setdefault(param.name, param)
            elif param.kind == param.VAR_KEYWORD:
                has_var_kw = True
        if not has_var_kw:
            return params
    return None


_PLAIN_TYPES = (int, float, bool, str)


def _plain_annotation(annotation: Any) -> Optional[Tuple[type, bool]]:
    """``(type, optional)`` for ``int``/``float``/``bool``/``str`` and their
    ``Optional`` form, else None."""
    if isinstance(annotation, str):  # postponed: 'int | None', 'Optional[int]'
        text, optional = annotation.replace(' ', ''), False
        if text.startswith('Optional[') and text.endswith(']'):
            text, optional = text[len('Optional['):-1], True
        alternatives = text.split('|')
        names = [name for name in alternatives if name != 'None']
        plain = {t.__name__: t for t in _PLAIN_TYPES}
        if len(names) != 1 or names[0] not in plain:
            return None
        return plain[names[0]], optional or len(names) < len(alternatives)
    if annotation in _PLAIN_TYPES:
        return annotation, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if (len(args) == 1 and args[0] in _PLAIN_TYPES
                and len(typing.get_args(annotation)) == 2):
            return args[0], True
    return None


def _type_problem(value: Any, param: inspect.Parameter) -> Optional[str]:
    """Why ``value`` does not fit the parameter's plain annotation, if so."""
    plain = _plain_annotation(param.annotation)
    if plain is None:
        return None
    expected, optional = plain
    if value is None:
        return None if optional or param.default is None else (
            f'expected {expected.__name__}, got None')
    if expected is float and isinstance(value, int) and not isinstance(
            value, bool):
        return None
    if expected is int and isinstance(value, bool):
        return f'expected int, got bool {value!r}'
    if isinstance(value, expected):
        return None
    return (f'expected {expected.__name__}, got {type(value).__name__} '
            f'{value!r}')


class _KeyChecker:
    """Walks a config and collects unknown keys, types and bad values."""

    def __init__(self, cfg: Config, origin: _Origin) -> None:
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
                problem = _type_problem(value, params[key])
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
        return _KeyChecker(cfg, _Origin(config_path, cfg_options)).run()


# ---------------------------------------------------------------------------
# Data


def _is_subclass(cls: Any, name: str) -> bool:
    return inspect.isclass(cls) and any(k.__name__ == name
                                        for k in cls.__mro__)


def _walk_images(folder: str, extensions: Sequence[str]) -> Iterator[str]:
    """Yield image files under ``folder`` (any depth), lazily."""
    extensions = tuple(e.lower() for e in extensions)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(extensions):
                yield osp.join(dirpath, name)


def _decodes(path: str) -> Optional[str]:
    """None when ``path`` decodes as an image, else the reason."""
    import mmcv
    try:
        with open(path, 'rb') as f:
            img = mmcv.imfrombytes(f.read())
    except Exception as err:  # noqa: BLE001
        return f'{type(err).__name__}: {err}'
    return None if img is not None else 'not a decodable image'


def _scan_folder(folder: str, extensions: Sequence[str], needed: int,
                 what: str) -> int:
    """Count images (up to ``needed``) and make sure one of them decodes.

    Args:
        folder (str): The image folder.
        extensions (Sequence[str]): File name endings that count as images.
        needed (int): Stop counting at this number.
        what (str): How to name the folder in messages.

    Returns:
        int: ``min(number of images, needed)``.

    Raises:
        ConfigValidationError: If there is no image file, or none of the
            first ones decodes.
    """
    count, tried, readable, failures = 0, 0, False, []
    for path in _walk_images(folder, extensions):
        count += 1
        if not readable and tried < _MAX_DECODE_TRIES:
            tried += 1
            reason = _decodes(path)
            readable = reason is None
            if reason:
                failures.append(f'{path} ({reason})')
        if count >= needed and (readable or tried >= _MAX_DECODE_TRIES):
            break
    if count == 0:
        raise ConfigValidationError(
            f'{what} {folder!r} holds no image files (looked for '
            f'{", ".join(extensions)} at any depth).')
    if not readable:
        raise ConfigValidationError(
            f'{what} {folder!r} has no readable images: none of the first '
            f'{tried} image files decodes, e.g. {failures[0]}.')
    return count


def _check_root(data_root: str, where: str) -> None:
    if not data_root:
        return
    if not osp.isdir(data_root):
        raise ConfigValidationError(
            f'{where}.data_root: the data root {data_root!r} does not exist '
            f'(expected a folder of images; working directory {os.getcwd()}).'
        )
    with os.scandir(data_root) as entries:
        if next(entries, None) is None:
            raise ConfigValidationError(
                f'{where}.data_root: the data root {data_root!r} is empty '
                '(expected a folder of images).')


def _dataset_size(dataset_cfg: dict, where: str, needed: int) -> Optional[int]:
    """Size of a training dataset (at most ``needed``), after checking its
    folders; None for dataset types this cannot judge."""
    from dense_contrast.registry import DATASETS
    cls = DATASETS.get(dataset_cfg.get('type', ''))
    if _is_subclass(cls, 'ToyScenesDataset'):
        # Generated on first use: the root may not exist yet.
        params = inspect.signature(cls.__init__).parameters
        split = dataset_cfg.get('split', params['split'].default)
        key = 'num_train' if split == 'train' else 'num_val'
        return int(dataset_cfg.get(key, params[key].default))
    if not _is_subclass(cls, 'BaseDataset'):
        return None
    _check_root(dataset_cfg.get('data_root', ''), where)
    kwargs = {
        k: v
        for k, v in dataset_cfg.items() if k not in ('type', '_scope_')
    }
    kwargs.update(pipeline=[], lazy_init=True)
    try:
        dataset = cls(**kwargs)
    except Exception as err:  # noqa: BLE001
        raise ConfigValidationError(
            f'{where}: cannot set up {cls.__name__} from '
            f'{dataset_cfg.get("data_root", "")!r}: '
            f'{type(err).__name__}: {err}') from err
    ann_file = getattr(dataset, 'ann_file', '')
    prefix = getattr(dataset, 'data_prefix', {}) or {}
    img_dir = prefix.get('img_path', '') or prefix.get('img', '')
    if ann_file and osp.isfile(ann_file):
        with open(ann_file) as f:
            lines = [line.split()[0] for line in f if line.strip()]
        if not lines:
            raise ConfigValidationError(
                f'{where}.ann_file: {ann_file!r} lists no images.')
        sample = [osp.join(img_dir, name) for name in lines[:_MAX_DECODE_TRIES]]
        reasons = [r for r in map(_decodes, sample) if r]
        if len(reasons) == len(sample):
            raise ConfigValidationError(
                f'{where}: none of the first {len(sample)} images listed in '
                f'{ann_file!r} is readable, e.g. {sample[0]} ({reasons[0]}).')
        return len(lines)
    if not img_dir:
        return None
    if not osp.isdir(img_dir):
        raise ConfigValidationError(
            f'{where}: the image folder {img_dir!r} does not exist '
            '(data_root joined with data_prefix).')
    extensions = getattr(dataset, 'extensions', None) or (
        '.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')
    return _scan_folder(
        osp.normpath(img_dir), extensions, needed, 'the image folder')


def world_size_of(cfg: Config) -> int:
    """Processes of the run: ``WORLD_SIZE`` under a launcher, else 1."""
    if cfg.get('launcher', 'none') == 'none':
        return 1
    return int(os.environ.get('WORLD_SIZE', 1))


def check_train_data(cfg: Config, world_size: int = 1) -> None:
    """Check the training data root, images and size against the batch.

    Args:
        cfg (Config): The merged config.
        world_size (int): Number of processes. Defaults to 1.

    Raises:
        ConfigValidationError: On a missing or empty data root, a folder
            without readable images, or fewer images than one global batch.
    """
    loader = cfg.get('train_dataloader')
    if not isinstance(loader, dict) or not isinstance(
            loader.get('dataset'), dict):
        return
    batch = loader.get('batch_size', 1)
    needed = batch * world_size
    size = _dataset_size(loader['dataset'], 'train_dataloader.dataset',
                         needed)
    if size is not None and size < needed:
        procs = f' x {world_size} processes' if world_size > 1 else ''
        raise ConfigValidationError(
            f'train_dataloader.batch_size={batch}{procs} needs {needed} '
            f'images per step, but the training dataset has only {size}: '
            f'set train_dataloader.batch_size to at most '
            f'{max(size // world_size, 1)}.')


def check_queue_length(cfg: Config, world_size: int = 1) -> None:
    """Every ``*queue_len`` of the model must hold one global batch.

    Args:
        cfg (Config): The merged config.
        world_size (int): Number of processes. Defaults to 1.

    Raises:
        ConfigValidationError: If a queue is shorter than
            ``train_dataloader.batch_size x world_size``.
    """
    model, loader = cfg.get('model'), cfg.get('train_dataloader')
    if not isinstance(model, dict) or not isinstance(loader, dict):
        return
    batch = loader.get('batch_size', 1)
    global_batch = batch * world_size
    for key, value in model.items():
        if key.endswith('queue_len') and isinstance(value, int):
            if value < global_batch:
                procs = (f' x {world_size} processes'
                         if world_size > 1 else ' x 1 process')
                raise ConfigValidationError(
                    f'model.{key}={value} is shorter than the global batch '
                    f'{global_batch} (train_dataloader.batch_size={batch}'
                    f'{procs}): every step pushes {global_batch} keys into '
                    f'the queue; set model.{key} >= {global_batch}.')


# ---------------------------------------------------------------------------
# Checkpoints


def describe_backbone(state_dict: Dict[str, Any],
                      prefix: str = 'backbone.') -> Optional[str]:
    """Name a ResNet backbone from its keys, e.g. ``'ResNet-50'``.

    Args:
        state_dict (dict): A model state dict.
        prefix (str): The backbone's key prefix. Defaults to 'backbone.'.

    Returns:
        str, optional: ``'ResNet-<depth>'`` when the block counts match a
        known depth, a description of the blocks otherwise, None when there
        are no ResNet stage keys.
    """
    from mmpretrain.models import ResNet
    blocks: Dict[int, Set[int]] = {}
    pattern = re.compile(rf'^{re.escape(prefix)}layer(\d+)\.(\d+)\.')
    for key in state_dict:
        match = pattern.match(str(key))
        if match:
            blocks.setdefault(int(match[1]), set()).add(int(match[2]))
    if not blocks:
        return None
    counts = tuple(len(blocks[i]) for i in sorted(blocks))
    bottleneck = f'{prefix}layer1.0.conv3.weight' in state_dict
    for depth, (block, stage_blocks) in ResNet.arch_settings.items():
        if (tuple(stage_blocks) == counts
                and (block.__name__ == 'Bottleneck') == bottleneck):
            return f'ResNet-{depth}'
    kind = 'bottleneck' if bottleneck else 'basic'
    return f'ResNet with {kind} blocks {"-".join(map(str, counts))}'


def _examples(items: Sequence[str], limit: int = 4) -> str:
    shown = ', '.join(items[:limit])
    return shown + (f', ... ({len(items)} in all)'
                    if len(items) > limit else '')


def check_checkpoint_matches(cfg: Config, checkpoint_path: str,
                             what: str) -> None:
    """Refuse a checkpoint written for another method or backbone.

    The model of ``cfg`` is built on the CPU and its state dict compared
    with the checkpoint's. When the names or shapes differ (and a strict
    load, which applies the model's renaming of mmpretrain keys, fails as
    well), the error names the method and backbone of both sides and the
    keys that differ.

    Args:
        cfg (Config): The merged config.
        checkpoint_path (str): The checkpoint.
        what (str): How the checkpoint was passed, e.g. ``'--resume'``.

    Raises:
        ConfigValidationError: If the checkpoint cannot be read or does not
            fit the model.
    """
    import pickle

    from dense_contrast.registry import MODELS
    from dense_contrast.utils.extract import (_algorithm_from_cfg,
                                              get_model_state_dict,
                                              load_checkpoint_safely)
    try:
        checkpoint = load_checkpoint_safely(checkpoint_path)
        saved = get_model_state_dict(checkpoint)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError,
            RuntimeError) as err:
        raise ConfigValidationError(f'{what} {checkpoint_path}: {err}') from err
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'dense_contrast')):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.pop('init_cfg', None)
        model = MODELS.build(model_cfg)
    expected = model.state_dict()
    only_saved = sorted(k for k in saved if k not in expected)
    only_model = sorted(k for k in expected if k not in saved)
    shapes = [
        f'{k}: checkpoint {tuple(saved[k].shape)}, model '
        f'{tuple(expected[k].shape)}' for k in sorted(expected)
        if k in saved and isinstance(saved[k], torch.Tensor)
        and saved[k].shape != expected[k].shape
    ]
    if not (only_saved or only_model or shapes):
        return
    try:  # renames (e.g. mmpretrain's queue keys) may make it fit
        model.load_state_dict(saved, strict=True)
        return
    except RuntimeError:
        pass
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    cfg_text = meta.get('cfg') if isinstance(meta, dict) else None
    saved_method = (_algorithm_from_cfg(cfg_text)
                    if isinstance(cfg_text, str) else None) or 'unknown method'
    saved_desc = f'{saved_method}, {describe_backbone(saved) or "?"}'
    model_desc = f'{type(model).__name__}, {describe_backbone(expected) or "?"}'
    parts = []
    if only_saved:
        parts.append(f'{len(only_saved)} keys only in the checkpoint '
                     f'({_examples(only_saved)})')
    if only_model:
        parts.append(f'{len(only_model)} keys only in the model '
                     f'({_examples(only_model)})')
    if shapes:
        parts.append(f'{len(shapes)} keys with other shapes '
                     f'({_examples(shapes, 3)})')
    raise ConfigValidationError(
        f'{what} {checkpoint_path} does not fit the model of this config: '
        f'the checkpoint holds {saved_desc}, the config builds '
        f'{model_desc}; ' + '; '.join(parts) +
        '. Use a checkpoint written with this config (or this config\'s '
        'method and backbone).')


def find_resume_checkpoint(cfg: Config) -> Optional[str]:
    """The checkpoint ``Runner`` will resume from, or None.

    Args:
        cfg (Config): The merged config (``resume``, ``load_from``,
            ``work_dir``).

    Returns:
        str, optional: ``load_from`` when given with ``resume``, else the
        latest checkpoint named in ``<work_dir>/last_checkpoint``.
    """
    if not cfg.get('resume'):
        return None
    if cfg.get('load_from'):
        return cfg.load_from
    from mmengine.runner import find_latest_checkpoint
    work_dir = cfg.get('work_dir')
    if not work_dir or not osp.isdir(work_dir):
        return None
    return find_latest_checkpoint(work_dir)


def preflight_check(cfg: Config,
                    config_path: Optional[str] = None,
                    cfg_options: Optional[dict] = None) -> None:
    """Run every check before the Runner is built.

    Args:
        cfg (Config): The merged config.
        config_path (str, optional): The config file (for messages).
        cfg_options (dict, optional): The ``--cfg-options`` (for messages).

    Raises:
        ConfigValidationError: Naming each problem found by
            :func:`check_config_keys`, or the first one of the data, queue
            and checkpoint checks.
    """
    if cfg.get('default_scope', 'dense_contrast') != 'dense_contrast':
        # A downstream config (mmdet, mmseg, mmpretrain): its types live in
        # that package's registries, which these checks do not cover.
        return
    problems = check_config_keys(cfg, config_path, cfg_options)
    if problems:
        raise ConfigValidationError(
            'the config has unknown keys or types:\n  ' +
            '\n  '.join(problems))
    world_size = world_size_of(cfg)
    check_queue_length(cfg, world_size)
    check_train_data(cfg, world_size)
    resume_from = find_resume_checkpoint(cfg)
    if resume_from:
        check_checkpoint_matches(cfg, resume_from, '--resume')
