"""Key renaming and layout checks shared by the weight converters."""
from typing import (Dict, Iterable, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple)

import torch
from torch import Tensor

__all__ = [
    'WeightLayoutError', 'RenameRule', 'RenameResult', 'rename_keys',
    'source_name', 'compare_with_reference', 'fill_num_batches_tracked',
    'select_prefix', 'add_prefix'
]

#: One renaming: ``(source, target)``. A name ending with ``'.'`` renames
#: every key under that prefix (``''``: every key), any other name one
#: exact key.
RenameRule = Tuple[str, str]

# How many key names an error message lists per kind.
_SHOWN = 6


def _listing(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:_SHOWN])
    more = len(keys) - _SHOWN
    return shown + (f', ... ({more} more)' if more > 0 else '')


class WeightLayoutError(ValueError):
    """A weights file does not have the layout it was declared to have.

    The message names the file, the declared layout and the keys that are
    missing, unexpected or of another shape (in the file's own names).

    Args:
        path (str): The file, or a description of where the weights came
            from.
        layout (str): The declared layout, e.g. ``'openselfsup-densecl'``.
        missing (Iterable[str]): Keys the layout needs but the file lacks.
            Defaults to ().
        unexpected (Iterable[str]): Keys of the file the layout does not
            have. Defaults to ().
        shapes (Iterable[str]): ``'key: file (..), expected (..)'`` lines.
            Defaults to ().
        hint (str, optional): A sentence added at the end. Defaults to None.
    """

    def __init__(self,
                 path: str,
                 layout: str,
                 missing: Iterable[str] = (),
                 unexpected: Iterable[str] = (),
                 shapes: Iterable[str] = (),
                 hint: Optional[str] = None) -> None:
        self.path = path
        self.layout = layout
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.shapes = list(shapes)
        self.hint = hint
        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} missing keys '
                         f'({_listing(self.missing)})')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} unexpected keys '
                         f'({_listing(self.unexpected)})')
        if self.shapes:
            parts.append(f'{len(self.shapes)} keys with another shape '
                         f'({_listing(self.shapes)})')
        message = f'{path} does not have the {layout!r} layout'
        if parts:
            message += ': ' + '; '.join(parts)
        message += '.'
        if hint:
            message += ' ' + hint
        super().__init__(message)


class RenameResult(NamedTuple):
    """What :func:`rename_keys` returns.

    Attributes:
        renamed (dict[str, Tensor]): Target names to tensors.
        origin (dict[str, str]): Target name to the source name it came
            from, for error messages.
        unmatched (list[str]): Source keys that no rule (and no drop
            prefix) matched.
    """
    renamed: Dict[str, Tensor]
    origin: Dict[str, str]
    unmatched: List[str]


def _match(key: str, name: str) -> Optional[str]:
    """The rest of ``key`` after rule name ``name``, or None if no match.

    ``''`` and names ending with ``'.'`` are prefixes; others exact keys.
    """
    if not name or name.endswith('.'):
        return key[len(name):] if key.startswith(name) else None
    return '' if key == name else None


def rename_keys(state_dict: Mapping[str, object],
                rules: Sequence[RenameRule],
                drop: Sequence[str] = ()) -> RenameResult:
    """Rename keys by the first rule that matches them.

    Args:
        state_dict (Mapping[str, object]): Source names to tensors.
        rules (Sequence[RenameRule]): ``(source, target)`` names, tried in
            order; see :data:`RenameRule`.
        drop (Sequence[str]): Prefixes (or exact keys) that are left out
            on purpose. Defaults to ().

    Returns:
        RenameResult: The renamed tensors, where each came from, and the
        source keys that nothing matched. Non-tensor values under a rule
        count as unmatched.
    """
    renamed: Dict[str, Tensor] = {}
    origin: Dict[str, str] = {}
    unmatched: List[str] = []
    for key, value in state_dict.items():
        key = str(key)
        for src, dst in rules:
            rest = _match(key, src)
            if rest is not None:
                if isinstance(value, Tensor):
                    renamed[dst + rest] = value
                    origin[dst + rest] = key
                else:
                    unmatched.append(key)
                break
        else:
            if not any(_match(key, name) is not None for name in drop):
                unmatched.append(key)
    return RenameResult(renamed, origin, unmatched)


def source_name(key: str, rules: Sequence[RenameRule]) -> str:
    """The source name that ``rules`` would rename to ``key``.

    Used to name a missing key in the file's own terms.

    Args:
        key (str): A target name.
        rules (Sequence[RenameRule]): The rules of :func:`rename_keys`.

    Returns:
        str: The source name, or ``key`` itself when no rule produces it.
    """
    for src, dst in rules:
        rest = _match(key, dst)
        if rest is not None and (not src or src.endswith('.') or not rest):
            return src + rest
    return key


def fill_num_batches_tracked(state_dict: Dict[str, Tensor],
                             reference: Mapping[str, Tensor]) -> List[str]:
    """Add the BN ``num_batches_tracked`` counters a file lacks, as zeros.

    Files written before PyTorch 0.4.1 have no such buffer; PyTorch itself
    fills it in on load, so its absence is not a layout error.

    Args:
        state_dict (dict[str, Tensor]): Converted weights, changed in place.
        reference (Mapping[str, Tensor]): The expected keys.

    Returns:
        list[str]: The keys added.
    """
    added = []
    for key in reference:
        if (key.endswith('.num_batches_tracked') and key not in state_dict
                and key[:-len('num_batches_tracked')] + 'running_mean'
                in state_dict):
            state_dict[key] = torch.zeros((), dtype=torch.long)
            added.append(key)
    return added


def compare_with_reference(state_dict: Mapping[str, Tensor],
                           reference: Mapping[str, Tensor],
                           path: str,
                           layout: str,
                           origin: Optional[Mapping[str, str]] = None,
                           rules: Sequence[RenameRule] = (),
                           extra_unexpected: Iterable[str] = (),
                           extra_missing: Iterable[str] = (),
                           hint: Optional[str] = None) -> None:
    """Require the converted keys and shapes to be exactly the reference's.

    Args:
        state_dict (Mapping[str, Tensor]): Converted weights.
        reference (Mapping[str, Tensor]): Expected names and shapes (e.g. a
            model's state dict).
        path (str): The source file, for the message.
        layout (str): The declared source layout, for the message.
        origin (Mapping[str, str], optional): Converted name to source name
            (see :func:`rename_keys`); unexpected keys are reported in
            source names. Defaults to None (report converted names).
        rules (Sequence[RenameRule]): Rules used to name missing keys in
            source terms (see :func:`source_name`). Defaults to ().
        extra_unexpected (Iterable[str]): Source keys already known to be
            unexpected (e.g. :attr:`RenameResult.unmatched`). Defaults to ().
        extra_missing (Iterable[str]): Source keys already known to be
            missing. Defaults to ().
        hint (str, optional): Sentence added to the message. Defaults to
            None.

    Raises:
        WeightLayoutError: If a key is missing or unexpected, or a shape
            differs.
    """
    origin = origin or {}
    missing = list(extra_missing) + [
        source_name(k, rules) for k in reference if k not in state_dict
    ]
    unexpected = list(extra_unexpected) + [
        origin.get(k, k) for k in state_dict if k not in reference
    ]
    shapes = [
        f'{origin.get(k, k)}: file {tuple(v.shape)}, expected '
        f'{tuple(reference[k].shape)}' for k, v in state_dict.items()
        if k in reference and tuple(v.shape) != tuple(reference[k].shape)
    ]
    if missing or unexpected or shapes:
        raise WeightLayoutError(path, layout, missing, unexpected, shapes,
                                hint)


def select_prefix(state_dict: Mapping[str, Tensor],
                  prefix: str) -> Dict[str, Tensor]:
    """The entries under ``prefix``, with the prefix stripped.

    Args:
        state_dict (Mapping[str, Tensor]): Weights.
        prefix (str): A prefix ending with ``'.'`` (or ``''`` for all).

    Returns:
        dict[str, Tensor]: Stripped names to tensors.
    """
    return {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }


def add_prefix(state_dict: Mapping[str, Tensor],
               prefix: str) -> Dict[str, Tensor]:
    """Prepend ``prefix`` to every key.

    Args:
        state_dict (Mapping[str, Tensor]): Weights.
        prefix (str): The prefix, e.g. ``'backbone.'``.

    Returns:
        dict[str, Tensor]: Prefixed names to tensors.
    """
    return {prefix + k: v for k, v in state_dict.items()}
