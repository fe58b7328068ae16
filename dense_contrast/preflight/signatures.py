"""Read constructor signatures: the keyword arguments a class accepts and
whether a plain config value fits an argument's annotation."""
import inspect
import types
import typing
from typing import Any, Dict, Optional, Tuple

__all__ = ['accepted_arguments', 'type_problem']


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


def type_problem(value: Any, param: inspect.Parameter) -> Optional[str]:
    """Why ``value`` does not fit the parameter's plain annotation, if so.

    Only ``int``, ``float``, ``bool`` and ``str`` annotations (and their
    ``Optional`` forms) are judged; an ``int`` fits a ``float``, a ``bool``
    does not fit an ``int``.

    Args:
        value (Any): The config value.
        param (inspect.Parameter): The constructor argument it is given to.

    Returns:
        str, optional: e.g. ``"expected int, got str '8'"``; None when the
        value fits or the annotation is not a plain type.
    """
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
