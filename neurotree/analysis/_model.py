"""The adapter every analyser works through: a model's `vector_field` as f(x, p) on flat arrays."""

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

# State fields that are not continuous variables of `vector_field` (events and solver caches).
_NOT_VARIABLES = ("spike", "refractory", "carry")
# The reserved parameter name for the vector field's `args` (the model's input).
INPUT = "input"


def _get(module, path: str):
    return functools.reduce(getattr, path.split("."), module)


def _scalar(owner: str, name: str, value) -> Array:
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    if arr.size != 1:
        raise ValueError(
            f"{owner}: {name} has shape {arr.shape}; the analysis treats each variable and "
            "parameter as one number. Analyse a model of size 1 (one neuron), or give a scalar."
        )
    return arr.reshape(())


class VectorField(eqx.Module):
    """A model's dynamics reduced to f(x, p) -> dx/dt on flat arrays, for autodiff and vmap.

    `target` is a neurotree model (anything with `vector_field(t, y, args)` and `init_state()`)
    or a bare diffrax-style callable `f(t, y, args)`. `y` is the tuple of the state variables in
    the order of the state class's fields (those other than `spike`, `refractory`, `carry`), or
    the one variable itself when there is only one; for a bare callable give their names in
    `state_names`. `x` holds the analysed `variables` in the given order; every other state
    variable is held at its value in `fixed`, else (for a model) at its value in
    `model.init_state()`, the rest state.

    `parameters` name what `p` sets, in order, each one of:
      - `"input"`: the vector field's `args` (the model's input current; 0 unless `fixed` says);
      - a state variable that is not analysed (held fixed: the slow variable of a fast-slow
        analysis);
      - a field of the model (a dotted path reaches into submodules), set with `eqx.tree_at`;
      - for a bare callable whose `args` (`fixed["input"]`) is a dict, one of its keys.
    `fixed` gives values to any of these same names. Every variable and parameter is one number:
    a model must be of size 1 (its arrays of shape () or (1,)).

    `field(x, p)` is pure and traceable: `jax.jacfwd(field)(x, p)` is the Jacobian and
    `jax.vmap` runs it over many points or parameter values. `field.p0` holds the parameters'
    values at construction.
    """

    target: Any
    y0: tuple[Float[Array, ""], ...]
    args: Any
    p0: Float[Array, " n_params"]
    variables: tuple[str, ...] = eqx.field(static=True)
    parameters: tuple[str, ...] = eqx.field(static=True)
    state_names: tuple[str, ...] = eqx.field(static=True)
    kinds: tuple[str, ...] = eqx.field(static=True)
    is_model: bool = eqx.field(static=True)
    t: float = eqx.field(static=True)

    def __init__(
        self,
        target: Any,
        variables: Sequence[str],
        parameters: Sequence[str] = (),
        *,
        fixed: Mapping[str, Any] | None = None,
        state_names: Sequence[str] | None = None,
        t: float = 0.0,
    ):
        owner = "VectorField"
        is_model = hasattr(target, "vector_field")
        if not is_model and not callable(target):
            raise ValueError(
                f"{owner}(target={target!r}): expected a neurotree model (with `vector_field`) "
                "or a callable vector_field(t, y, args)."
            )
        variables, parameters = (
            _names(owner, "variables", variables),
            _names(owner, "parameters", parameters),
        )
        fixed = dict(fixed or {})
        if state_names is None:
            if not is_model:
                raise ValueError(
                    f"{owner}: a bare vector field needs state_names=, the names of the "
                    "variables in y in order."
                )
            state_names, y_init = _model_state(owner, target)
        else:
            state_names = _names(owner, "state_names", state_names)
            y_init = {}
        y0 = {}
        for name in state_names:
            if name in fixed:
                y0[name] = _scalar(owner, f"fixed[{name!r}]", fixed.pop(name))
            elif name in y_init:
                y0[name] = y_init[name]
            elif name in variables or name in parameters:
                y0[name] = jnp.zeros(())
            else:
                raise ValueError(
                    f"{owner}: state variable {name!r} is neither analysed nor given a value; "
                    f"add it to fixed= (e.g. fixed={{{name!r}: 0.0}})."
                )
        args = fixed.pop(INPUT, 0.0 if is_model else None)
        for name in fixed:  # what is left names model fields or keys of args
            kind = _parameter_kind(owner, name, target, is_model, state_names, args)
            if kind == "field":
                target = _set_field(owner, target, name, fixed[name])
            else:
                args = {**args, name: fixed[name]}
        for name in variables:
            if name not in state_names:
                raise ValueError(
                    f"{owner}(variables={variables}): {name!r} is not a state variable; the "
                    f"state variables are {state_names}."
                )
        clash = sorted(set(variables) & set(parameters))
        if clash:
            raise ValueError(f"{owner}: {clash} cannot be both variables and parameters.")
        kinds = tuple(
            _parameter_kind(owner, name, target, is_model, state_names, args) for name in parameters
        )
        p0 = []
        for name, kind in zip(parameters, kinds):
            if kind == "state":
                p0.append(y0[name])
            elif kind == "input":
                p0.append(_scalar(owner, "the input", args))
            elif kind == "field":
                p0.append(_scalar(owner, f"parameter {name!r}", _get(target, name)))
            else:
                p0.append(_scalar(owner, f"parameter {name!r}", args[name]))
        self.target = target
        self.y0 = tuple(y0[name] for name in state_names)
        self.args = args
        self.p0 = jnp.stack(p0) if p0 else jnp.zeros((0,))
        self.variables = variables
        self.parameters = parameters
        self.state_names = state_names
        self.kinds = kinds
        self.is_model = is_model
        self.t = float(t)
        x0 = jnp.stack([y0[name] for name in variables]) if variables else jnp.zeros((0,))
        try:
            jax.eval_shape(self, x0, self.p0)
        except ValueError:
            raise
        except Exception as err:  # a wrong structure surfaces here, named, not later in a solver
            raise ValueError(
                f"{owner}: calling the vector field with y = {state_names} and the given args "
                f"failed ({type(err).__name__}: {err})."
            ) from err

    @property
    def n(self) -> int:
        return len(self.variables)

    def x0(self) -> Float[Array, " n"]:
        """The analysed variables' values in the reference state (fixed or rest)."""
        index = {name: i for i, name in enumerate(self.state_names)}
        return jnp.stack([self.y0[index[name]] for name in self.variables])

    def __call__(
        self, x: Float[Array, " n"], p: Float[Array, " n_params"] | None = None
    ) -> Float[Array, " n"]:
        p = self.p0 if p is None else p
        y = list(self.y0)
        index = {name: i for i, name in enumerate(self.state_names)}
        target, args = self.target, self.args
        for i, (name, kind) in enumerate(zip(self.parameters, self.kinds)):
            if kind == "state":
                y[index[name]] = p[i]
            elif kind == "input":
                args = p[i]
            elif kind == "field":
                target = _set_field("VectorField", target, name, p[i])
            else:
                args = {**args, name: p[i]}
        for i, name in enumerate(self.variables):
            y[index[name]] = x[i]
        fn = target.vector_field if self.is_model else target
        dy = fn(self.t, y[0] if len(y) == 1 else tuple(y), args)
        dy = [dy] if len(y) == 1 else list(jax.tree.leaves(dy))
        if len(dy) != len(y):
            raise ValueError(
                f"VectorField: the vector field returned {len(dy)} arrays for the "
                f"{len(y)} state variables {self.state_names}."
            )
        out = []
        for name in self.variables:
            d = jnp.asarray(dy[index[name]])
            if d.size != 1:
                raise ValueError(
                    f"VectorField: d{name}/dt has shape {d.shape}; expected one number. Analyse "
                    "a model of size 1 whose parameters are scalars or of shape (1,)."
                )
            out.append(d.reshape(()))
        return jnp.stack(out) if out else jnp.zeros((0,))


def _names(owner: str, what: str, names) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError(f"{owner}({what}={names!r}): expected distinct names (strings).")
    return names


def _model_state(owner: str, model) -> tuple[tuple[str, ...], dict[str, Array]]:
    try:
        state = model.init_state()
    except Exception as err:
        raise ValueError(
            f"{owner}: {type(model).__name__}.init_state() failed ({err}); pass the model's "
            "vector_field with state_names= and fixed= instead."
        ) from err
    if not dataclasses.is_dataclass(state):
        raise ValueError(
            f"{owner}: the state of {type(model).__name__} is not a state class; pass its "
            "vector_field with state_names= instead."
        )
    names, values = [], {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if f.name in _NOT_VARIABLES or value is None:
            continue
        if not eqx.is_array(value):
            raise ValueError(
                f"{owner}: state field {f.name!r} of {type(model).__name__} is not an array; "
                "pass its vector_field with state_names= and fixed= instead."
            )
        names.append(f.name)
        values[f.name] = _scalar(owner, f"state variable {f.name!r}", value)
    return tuple(names), values


def _parameter_kind(owner, name, target, is_model, state_names, args) -> str:
    if name in state_names:
        return "state"
    if name == INPUT:
        return "input"
    if is_model:
        try:
            value = _get(target, name)
        except AttributeError:
            value = None
        if eqx.is_array_like(value) and not isinstance(value, bool):
            return "field"
    if isinstance(args, Mapping) and name in args:
        return "arg"
    fields = ()
    if is_model:
        fields = tuple(
            f.name for f in dataclasses.fields(target) if eqx.is_array(getattr(target, f.name))
        )
    raise ValueError(
        f"{owner}: unknown name {name!r}; expected 'input', a state variable {state_names}"
        + (f", or an array field of the model {fields}" if is_model else "")
        + (f", or a key of args {tuple(args)}" if isinstance(args, Mapping) else "")
        + "."
    )


def _set_field(owner: str, model, name: str, value):
    old = jnp.asarray(_get(model, name))
    if old.size != 1:
        raise ValueError(
            f"{owner}: model field {name!r} has shape {old.shape}; only parameters with one "
            "value (shape () or (1,)) can be set."
        )
    new = jnp.broadcast_to(jnp.asarray(value, old.dtype), old.shape)
    return eqx.tree_at(lambda m: _get(m, name), model, new)


def unit_field(
    field: VectorField, lo: Float[Array, " n"], hi: Float[Array, " n"]
) -> Callable[[Array, Array], Array]:
    """f in box coordinates u = (x - lo) / (hi - lo): du/dt = f(lo + u (hi - lo), p) / (hi - lo).

    Solver tolerances in u are relative to the analysed ranges, whatever the variables' units.
    """
    scale = hi - lo
    return lambda u, p: field(lo + u * scale, p) / scale


def as_ranges(owner: str, ranges: Mapping[str, Any]) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and an (n, 2) array of (low, high) from a mapping name -> (low, high)."""
    if not isinstance(ranges, Mapping) or not ranges:
        raise ValueError(
            f"{owner}(variables={ranges!r}): expected a dict from variable names to (low, high) "
            "ranges, e.g. {'v': (-3.0, 3.0), 'w': (-1.0, 3.0)}."
        )
    bounds = []
    for name, r in ranges.items():
        r = np.asarray(r, np.float64)
        if r.shape != (2,) or not np.all(np.isfinite(r)) or not r[0] < r[1]:
            raise ValueError(
                f"{owner}: the range of {name!r} is {ranges[name]!r}; expected (low, high) with "
                "finite low < high."
            )
        bounds.append(r)
    return tuple(ranges), np.stack(bounds)
