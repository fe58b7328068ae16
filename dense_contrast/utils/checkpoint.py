"""Checkpoints that load with ``torch.load(path)`` under ``weights_only=True``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``: the pickle
is read by a restricted unpickler that only builds tensors, builtin
containers and the globals allowlisted with
``torch.serialization.add_safe_globals``. mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` without the argument, so resuming
any of its training checkpoints fails. A plain mmengine checkpoint pickles,
besides tensors and builtins:

* ``mmengine.logging.history_buffer.HistoryBuffer`` (``message_hub`` ->
  ``log_scalars``), whose ``__getstate__`` also stores the class-level table
  ``_statistics_methods`` = ``{'min': HistoryBuffer.min, ...}``. These are
  functions with a dotted ``__qualname__``; pickle protocol 2 (the one
  ``torch.save`` uses) can only refer to them as ``getattr(HistoryBuffer,
  'min')``, hence the ``builtins.getattr`` global in every such checkpoint.
* numpy arrays, dtypes and scalars: ``HistoryBuffer._log_history`` /
  ``_count_history``, ``message_hub.runtime_info['eta']`` (a ``np.float64``
  from ``IterTimerHook``), and whatever numpy objects metrics or datasets put
  into ``runtime_info`` or ``meta['dataset_meta']``.

Allowlisting ``getattr`` would let a checkpoint fetch any attribute of any
allowlisted object, i.e. reach arbitrary callables, so this module fixes the
problem on both sides instead of relaxing ``weights_only``:

* read side, :func:`register_safe_globals` allowlists exactly
  ``HistoryBuffer``, ``numpy.ndarray``, ``numpy.dtype`` with its per-dtype
  classes, and numpy's ``_reconstruct``/``scalar`` rebuild functions (under
  both their numpy 1 ``numpy.core`` and numpy 2 ``numpy._core`` names).
  None of them can call anything outside the allowlist.
* write side, :func:`make_checkpoint_safe` (run by ``SafeCheckpointHook``
  right before mmengine saves) turns every ``HistoryBuffer`` into one that
  pickles as the constructor call ``HistoryBuffer(log, counts, max_length)``
  on plain lists (no ``getattr``, no numpy), and numpy scalars into Python
  scalars. :func:`find_unsafe_globals` reports whatever would still be
  refused.

Old checkpoints written without the hook still contain ``getattr`` and are
refused on purpose; they can only be loaded by someone who trusts them and
opts out of ``weights_only`` themselves.
"""
import functools
import importlib
import io
import logging
from collections import OrderedDict
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log

__all__ = [
    'safe_checkpoint_globals', 'register_safe_globals', 'make_checkpoint_safe',
    'find_unsafe_globals', 'warn_if_unsafe'
]

SafeGlobal = Union[Callable, Tuple[Callable, str]]

# numpy 2 moved ``numpy.core`` to ``numpy._core``; pickles name the module
# that wrote them, so files written under numpy 1 say ``numpy.core...`` and
# files written under numpy 2 say ``numpy._core...``. Both must resolve.
_NUMPY_MULTIARRAY_NAMES = ('numpy.core.multiarray', 'numpy._core.multiarray')
# ``_reconstruct`` rebuilds an ndarray (shape + dtype, data set by
# ``ndarray.__setstate__``); ``scalar`` rebuilds a numpy scalar from its dtype
# and raw bytes. Neither calls anything given by the pickle.
_NUMPY_MULTIARRAY_FUNCS = ('_reconstruct', 'scalar')

# Keys whose subtree is left exactly as written: ``Runner.resume`` compares
# ``pickle.dumps`` of the saved and the current dataset metainfo, so turning
# numpy scalars into Python ones there would raise a spurious warning.
_VERBATIM_KEYS = frozenset({'dataset_meta'})

# Python types a numpy scalar may be turned into; the restricted unpickler
# builds all of them without a global (``complex`` is allowlisted by torch).
_PLAIN_SCALARS = (bool, int, float, complex)


def _numpy_multiarray() -> Any:
    """Import numpy's ``multiarray`` module without deprecation warnings.

    Returns:
        module: ``numpy._core.multiarray`` (numpy >= 2, also present in
        numpy 1.26) or ``numpy.core.multiarray`` (older numpy).
    """
    try:
        return importlib.import_module('numpy._core.multiarray')
    except ImportError:  # numpy < 1.26
        return importlib.import_module('numpy.core.multiarray')


def _numpy_dtype_classes() -> List[type]:
    """List numpy's per-dtype classes (``numpy.dtypes.Float64DType``, ...).

    Since numpy 1.25 every dtype instance belongs to its own ``np.dtype``
    subclass. A pickled dtype is rebuilt as ``numpy.dtype('f8', ...)`` and
    then gets its state through BUILD, which torch only performs on objects
    whose exact type is allowlisted, so these classes must be listed too.
    They describe memory layouts and run nothing.

    Returns:
        list[type]: The classes, empty for numpy < 1.25.
    """
    try:
        dtypes = importlib.import_module('numpy.dtypes')
    except ImportError:  # numpy < 1.25: every dtype is a plain ``np.dtype``
        return []
    classes = (getattr(dtypes, name) for name in sorted(dir(dtypes)))
    # ``dict.fromkeys`` drops aliases (``ByteDType`` is ``Int8DType``).
    return list(
        dict.fromkeys(
            cls for cls in classes
            if isinstance(cls, type) and issubclass(cls, np.dtype)))


@functools.lru_cache(maxsize=1)
def safe_checkpoint_globals() -> Tuple[SafeGlobal, ...]:
    """The globals that mmengine training checkpoints need, and nothing more.

    Returns:
        tuple: Entries for ``torch.serialization.add_safe_globals``: classes,
        or ``(obj, 'module.name')`` pairs where the pickled name differs from
        the object's own ``__module__``/``__qualname__``.
    """
    entries: List[SafeGlobal] = [
        # Our checkpoints build it through its constructor (lists of numbers
        # -> np.array). A BUILD would go through ``__setstate__``, which only
        # sets attributes from objects the restricted unpickler already made.
        HistoryBuffer,
        # ``numpy.dtype(str, align, copy)`` only parses a type string.
        np.dtype,
        np.ndarray,
    ]
    entries.extend(_numpy_dtype_classes())
    multiarray = _numpy_multiarray()
    for func_name in _NUMPY_MULTIARRAY_FUNCS:
        func = getattr(multiarray, func_name)
        for module_name in _NUMPY_MULTIARRAY_NAMES:
            entries.append((func, f'{module_name}.{func_name}'))
    return tuple(entries)


def register_safe_globals() -> Tuple[SafeGlobal, ...]:
    """Allowlist :func:`safe_checkpoint_globals` for ``torch.load``.

    ``dense_contrast`` calls this on import, so ``torch.load(path)`` and
    mmengine's ``load_checkpoint``/``Runner.resume`` read the checkpoints that
    ``SafeCheckpointHook`` writes without turning ``weights_only`` off.
    Calling it again is harmless: torch keeps the allowlist as a set.

    Returns:
        tuple: The entries that are (now) allowlisted.
    """
    entries = safe_checkpoint_globals()
    torch.serialization.add_safe_globals(list(entries))
    return entries


class _PortableHistoryBuffer(HistoryBuffer):
    """A ``HistoryBuffer`` that pickles as a plain constructor call.

    mmengine's ``HistoryBuffer.__getstate__`` adds the class-level
    ``_statistics_methods`` table, which pickles as ``getattr`` calls, and
    stores numpy arrays. This subclass reduces to
    ``HistoryBuffer(log_history, count_history, max_length)`` with Python
    lists instead, so the file references the mmengine class only and loads
    back as a genuine ``HistoryBuffer`` (which ``MessageHub.load_state_dict``
    requires). The statistics table is not lost: mmengine re-creates the
    default methods in ``__init__`` and custom ones are registered again when
    their module is imported.
    """

    def __reduce__(self) -> Tuple[type, Tuple[list, list, int]]:
        # ``tolist`` yields Python ints for integer arrays and floats for
        # float arrays, which ``np.array`` turns back into int64 / float64,
        # the dtypes HistoryBuffer itself produces.
        return (HistoryBuffer, (self._log_history.tolist(),
                                self._count_history.tolist(),
                                int(self.max_length)))


def _portable_history_buffer(buffer: HistoryBuffer) -> HistoryBuffer:
    """Copy a ``HistoryBuffer`` into a :class:`_PortableHistoryBuffer`.

    Args:
        buffer (HistoryBuffer): The buffer to convert.

    Returns:
        HistoryBuffer: A portable copy (``buffer`` itself if already one).
    """
    if isinstance(buffer, _PortableHistoryBuffer):
        return buffer
    return _PortableHistoryBuffer(buffer._log_history, buffer._count_history,
                                  buffer.max_length)


def _plain_scalar(value: np.generic) -> Any:
    """Turn a numpy number or bool into the equal Python scalar.

    Args:
        value (np.generic): A numpy scalar.

    Returns:
        Any: The Python scalar, or ``value`` itself when ``item()`` has no
        builtin equivalent (``np.longdouble`` stays numpy; it is allowlisted).
    """
    plain = value.item()
    return plain if type(plain) in _PLAIN_SCALARS else value


def _to_safe(obj: Any, convert_numpy: bool = True) -> Any:
    """Recursively replace objects that do not pickle safely.

    Only exact ``dict``/``OrderedDict``/``list``/``tuple`` containers are
    walked; a container is copied only when something inside it changed, so
    the objects mmengine handed over (e.g. a ``meta`` dict owned by a hook)
    are never mutated.

    Args:
        obj (Any): Part of a checkpoint.
        convert_numpy (bool): Whether to turn numpy scalars into Python
            scalars. Defaults to True.

    Returns:
        Any: ``obj`` or a converted copy.
    """
    if isinstance(obj, torch.Tensor):  # the bulk of a checkpoint: fast path
        return obj
    if isinstance(obj, HistoryBuffer):
        return _portable_history_buffer(obj)
    if convert_numpy and isinstance(obj, (np.number, np.bool_)):
        return _plain_scalar(obj)
    if type(obj) in (dict, OrderedDict):
        items = [(key,
                  _to_safe(value, convert_numpy and key not in _VERBATIM_KEYS))
                 for key, value in obj.items()]
        if all(new is obj[key] for key, new in items):
            return obj
        copied = type(obj)(items)
        if isinstance(obj, OrderedDict):
            # Keep attributes such as a state dict's ``_metadata``.
            copied.__dict__.update(obj.__dict__)
        return copied
    if type(obj) in (list, tuple):
        values = [_to_safe(value, convert_numpy) for value in obj]
        if all(new is old for new, old in zip(values, obj)):
            return obj
        return type(obj)(values)
    return obj


def make_checkpoint_safe(checkpoint: dict) -> dict:
    """Make an mmengine checkpoint dict loadable under ``weights_only=True``.

    ``HistoryBuffer`` objects become ones that pickle without ``getattr`` and
    numpy (see :class:`_PortableHistoryBuffer`); numpy numbers and bools become
    Python scalars, except under ``dataset_meta`` keys, which mmengine
    compares byte for byte on resume and whose numpy objects are allowlisted
    anyway. Tensors are left untouched.

    Args:
        checkpoint (dict): The checkpoint, as passed to
            ``Hook.before_save_checkpoint``. Its top-level values are replaced
            in place (the hook cannot hand a new dict back to mmengine);
            nested containers are copied, never mutated.

    Returns:
        dict: ``checkpoint`` itself.
    """
    for key, value in list(checkpoint.items()):
        checkpoint[key] = _to_safe(value, key not in _VERBATIM_KEYS)
    return checkpoint


def _without_tensor_data(obj: Any) -> Any:
    """Replace every tensor in builtin containers by an empty tensor.

    Tensors are always allowed by ``weights_only``, so a skeleton without
    their data has the same globals as the checkpoint at a fraction of the
    serialisation cost.

    Args:
        obj (Any): Part of a checkpoint.

    Returns:
        Any: A copy of the containers with empty tensors.
    """
    if isinstance(obj, torch.Tensor):
        # Every storage type and rebuild function is allowed, so the dtype
        # does not matter (and quantized dtypes cannot be ``torch.empty``).
        return torch.empty(0)
    if type(obj) in (dict, OrderedDict):
        return type(obj)(
            (key, _without_tensor_data(value)) for key, value in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(_without_tensor_data(value) for value in obj)
    return obj


def find_unsafe_globals(checkpoint: dict) -> List[str]:
    """List the globals that ``torch.load(weights_only=True)`` would refuse.

    The check serialises the checkpoint without tensor data and scans the
    pickle statically with
    ``torch.serialization.get_unsafe_globals_in_checkpoint``, so nothing in
    it is executed. Globals allowlisted at the time of the call
    (e.g. by :func:`register_safe_globals`) count as safe.

    Args:
        checkpoint (dict): A checkpoint about to be saved.

    Returns:
        list[str]: Sorted ``module.name`` strings; empty when the checkpoint
        loads with ``weights_only=True``.
    """
    buffer = io.BytesIO()
    torch.save(_without_tensor_data(checkpoint), buffer)
    buffer.seek(0)
    return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(buffer))


def warn_if_unsafe(checkpoint: dict) -> List[str]:
    """Log a warning naming the globals that would block a safe load.

    Args:
        checkpoint (dict): A checkpoint about to be saved.

    Returns:
        list[str]: What :func:`find_unsafe_globals` found.
    """
    unsafe = find_unsafe_globals(checkpoint)
    if unsafe:
        print_log(
            'This checkpoint will not load with torch.load(weights_only=True) '
            f'(the default since torch 2.6): it pickles {unsafe}. Convert '
            'these objects to tensors or builtins before saving, or allowlist '
            'them with torch.serialization.add_safe_globals if they cannot '
            'run code.',
            logger='current',
            level=logging.WARNING)
    return unsafe
