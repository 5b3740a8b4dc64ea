"""Post hoc feature-attribution explainers for a classifier `apply_fn(params, x) -> logits`.

Every explainer returns an (n, d) attribution for the logit of each row's `target` class (PEAR
explains the true label). Defaults follow the PEAR reference (pear-xai 0.0.10, built on Captum):

* `integrated_gradients`: 20 Gauss-Legendre nodes and NO multiplication by (x - baseline), i.e.
  the path-averaged gradient (Captum `IntegratedGradients(multiply_by_inputs=False)`). The
  reference passes the training-set mean as `baseline`; here `None` means zeros.
* `smoothgrad`: 10 samples of N(0, sigma^2 = 1) input noise, mean of raw (signed) gradients.
* `lime`: 200 Bernoulli(1/2) masks over features, masked features set to `baseline` (zeros),
  samples weighted by exp(-dist^2 / (2 width^2)) with Captum's cosine distance and width 1, and a
  weighted lasso (alpha 1e-4, intercept) fitted in the binary mask space.
* `kernel_shap`: exact Shapley values of v(S) = f(x_S, baseline_rest) by enumerating all 2^d
  coalitions when d <= `exact_max_features` (this is the solution the sampled Kernel SHAP
  regression estimates); otherwise Shapley-kernel coalition sampling (paired) and the
  efficiency-constrained least-squares fit.

The first four are differentiable w.r.t. `params` (double backprop) and are what `pear_jax.loss`
trains with. All assume rows do not interact inside `apply_fn` (no batch statistics), so the
gradient of the summed target logits is the per-row gradient. Each public function validates its
arguments, then calls a kernel jitted once per (apply_fn, shapes, static settings); keep
`apply_fn` the same object across calls to reuse the compilation. All kernels keep the row axis
leading, so a batch sharded over a mesh's `data` axis stays sharded.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from pear_jax import validation

Params = Any
Array = jax.Array
ApplyFn = Callable[[Params, Array], Array]

IG_RULES = ("gauss_legendre", "riemann_trapezoid")
LIME_PENALTIES = ("lasso", "ridge")
LIME_DISTANCES = ("cosine", "euclidean")
DIFFERENTIABLE_EXPLAINERS = ("vanilla_gradient", "gradient_x_input", "integrated_gradients", "smoothgrad")
ALL_EXPLAINERS = DIFFERENTIABLE_EXPLAINERS + ("lime", "kernel_shap")
SAMPLING_EXPLAINERS = ("smoothgrad", "lime", "kernel_shap")

# Coordinate descent for the LIME lasso stops when no coefficient moves by more than this
# fraction of the largest one (sklearn's criterion, tighter tolerance), or after _LASSO_MAX_SWEEPS.
_LASSO_TOL = 1e-7
_LASSO_MAX_SWEEPS = 1000
# Rows per forward pass when an explainer evaluates many perturbed copies of the batch.
_CHUNK_ROWS = 8192


# --------------------------------------------------------------------------- argument checks


def _check_inputs(apply_fn: ApplyFn, params: Params, x: Any, target: Any) -> None:
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable as apply_fn(params, x) -> logits, got {apply_fn!r}")
    validation.check_matrix("x", x)
    validation.check_finite("x", x)
    n = np.shape(x)[0]
    logits = jax.eval_shape(apply_fn, params, jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)))
    if len(logits.shape) != 2 or logits.shape[0] != n:
        raise ValueError(f"apply_fn(params, x) must return (n, C) = ({n}, C) logits, got shape {logits.shape}")
    validation.check_target(target, n, logits.shape[1])


def _check_baseline(baseline: Any, x: Any) -> None:
    if baseline is None:
        return
    n, d = np.shape(x)
    if np.shape(baseline) not in ((d,), (n, d)):
        raise ValueError(f"baseline must be None, shape (d,) = ({d},) or (n, d) = ({n}, {d}); got {np.shape(baseline)}")
    validation.check_finite("baseline", baseline)


def _check_key(name: str, key: Any) -> None:
    if key is None:
        raise ValueError(f"{name} samples perturbations and needs a PRNG key (key=jax.random.key(...)), got None")


# --------------------------------------------------------------------------- shared pieces


def _target_logits(apply_fn: ApplyFn, params: Params, inputs: Array, target: Array) -> Array:
    """Returns the target-class logit for each of `inputs` (n, S, d) -> (n, S)."""
    n, s, d = inputs.shape
    per_chunk = max(1, _CHUNK_ROWS // n)
    forward = lambda z: apply_fn(params, z)  # noqa: E731
    if s <= per_chunk and not _rows_on_explicit_axes(inputs):
        # One (n*S, d) batch through the model. Vmapping over the sample axis instead gives the
        # same matmuls on (n, S, .) operands, but their parameter gradients (double backprop)
        # then contract over two axes, and XLA's CPU backend materialises a transposed copy of
        # each hidden layer's (n*S, width) cotangent for it: ~15% of the PEAR step.
        logits = forward(inputs.reshape(n * s, d)).reshape(n, s, -1)
    elif s <= per_chunk:
        # A reshape that merges a `data`-sharded axis is rejected under explicit mesh axes.
        logits = jax.vmap(forward, in_axes=1, out_axes=1)(inputs)
    else:
        # Many samples (LIME, Kernel SHAP): a few thousand rows at a time keep the hidden
        # activations in cache, which is several times faster on CPU than one huge batch.
        logits = jnp.swapaxes(lax.map(forward, jnp.swapaxes(inputs, 0, 1), batch_size=per_chunk), 0, 1)
    return jnp.take_along_axis(logits, target[:, None, None], axis=2)[..., 0]


def _input_gradients(apply_fn: ApplyFn, params: Params, inputs: Array, target: Array) -> Array:
    """Returns d logit[target] / d input for each of `inputs` (n, S, d) -> (n, S, d)."""
    return jax.grad(lambda z: jnp.sum(_target_logits(apply_fn, params, z, target)))(inputs)


def _explicit_row_spec(x: Array):
    """Returns the mesh and row-axis spec of `x` when its rows are split over explicit mesh axes,
    else None."""
    sharding = jax.typeof(x).sharding
    mesh, spec = sharding.mesh, sharding.spec
    if mesh.empty or not spec or spec[0] is None:
        return None
    names = spec[0] if isinstance(spec[0], tuple) else (spec[0],)
    axis_types = dict(zip(mesh.axis_names, mesh.axis_types))
    if not all(axis_types.get(name) == jax.sharding.AxisType.Explicit for name in names):
        return None
    return mesh, spec[0]


def _rows_on_explicit_axes(x: Array) -> bool:
    return _explicit_row_spec(x) is not None


def _follow_rows(arr: Array, x: Array) -> Array:
    """Returns `arr` (n, ...) sharded over rows like `x` when `x` lives on an explicit mesh axis.

    Random draws come out replicated; under explicit axes, vmapping them together with
    row-sharded values is an error, so they take the rows' sharding first (no-op otherwise).
    """
    found = _explicit_row_spec(x)
    if found is None:
        return arr
    mesh, rows = found
    return jax.sharding.reshard(arr, NamedSharding(mesh, P(rows, *([None] * (arr.ndim - 1)))))


def _full_baseline(baseline: Array | None, x: Array) -> Array:
    if baseline is None:
        return jnp.zeros_like(x)
    return jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)


@functools.lru_cache(maxsize=None)
def _ig_nodes(n_steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Returns (alphas, weights) of the quadrature rule on [0, 1], as Captum defines them."""
    if rule == "gauss_legendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return 0.5 * (nodes + 1.0), 0.5 * weights
    alphas = np.linspace(0.0, 1.0, n_steps)
    weights = np.full(n_steps, 1.0 / (n_steps - 1))
    weights[[0, -1]] *= 0.5
    return alphas, weights


# --------------------------------------------------------------------------- gradient explainers


@functools.partial(jax.jit, static_argnums=0)
def _vanilla_gradient(apply_fn, params, x, target):
    return _input_gradients(apply_fn, params, x[:, None, :], target)[:, 0, :]


def vanilla_gradient(apply_fn: ApplyFn, params: Params, x: Array, target: Array) -> Array:
    """Returns d logit[target] / d x, shape (n, d) (Captum `Saliency(abs=False)`)."""
    _check_inputs(apply_fn, params, x, target)
    return _vanilla_gradient(apply_fn, params, x, target)


def gradient_x_input(apply_fn: ApplyFn, params: Params, x: Array, target: Array) -> Array:
    """Returns x * d logit[target] / d x, shape (n, d) (Captum `InputXGradient`)."""
    _check_inputs(apply_fn, params, x, target)
    return x * _vanilla_gradient(apply_fn, params, x, target)


@functools.partial(jax.jit, static_argnames=("apply_fn", "n_steps", "rule", "multiply_by_inputs"))
def _integrated_gradients(apply_fn, params, x, target, baseline, *, n_steps, rule, multiply_by_inputs):
    base = _full_baseline(baseline, x)
    alphas, weights = (jnp.asarray(a, x.dtype) for a in _ig_nodes(n_steps, rule))
    path = base[:, None, :] + alphas[None, :, None] * (x - base)[:, None, :]
    grads = _input_gradients(apply_fn, params, path, target)
    total = jnp.einsum("s,nsd->nd", weights, grads)
    return total * (x - base) if multiply_by_inputs else total


def integrated_gradients(
    apply_fn: ApplyFn,
    params: Params,
    x: Array,
    target: Array,
    *,
    baseline: Array | None = None,
    n_steps: int = 20,
    rule: str = "gauss_legendre",
    multiply_by_inputs: bool = False,
) -> Array:
    """Returns Integrated Gradients along the straight path baseline -> x, shape (n, d).

    Without `multiply_by_inputs` (the PEAR default) this is the quadrature of the path gradient,
    sum_k w_k grad f(b + a_k (x - b)); with it, that times (x - b), whose row sums approximate
    f(x) - f(b) (completeness). `baseline` is None (zeros), (d,) or (n, d). `rule` is
    "gauss_legendre" (n_steps >= 1) or "riemann_trapezoid" (n_steps >= 2, endpoints included).
    """
    _check_inputs(apply_fn, params, x, target)
    _check_baseline(baseline, x)
    validation.check_choice("rule", rule, IG_RULES)
    validation.check_int("n_steps", n_steps, 2 if rule == "riemann_trapezoid" else 1)
    return _integrated_gradients(apply_fn, params, x, target, baseline, n_steps=int(n_steps), rule=rule,
                                 multiply_by_inputs=bool(multiply_by_inputs))


@functools.partial(jax.jit, static_argnames=("apply_fn", "n_samples"))
def _smoothgrad(apply_fn, params, x, target, key, sigma, *, n_samples):
    n, d = x.shape
    noise = jax.random.normal(key, (n, n_samples, d), x.dtype) * jnp.asarray(sigma, x.dtype)
    return jnp.mean(_input_gradients(apply_fn, params, x[:, None, :] + noise, target), axis=1)


def smoothgrad(
    apply_fn: ApplyFn,
    params: Params,
    x: Array,
    target: Array,
    key: Array,
    *,
    n_samples: int = 10,
    sigma: float = 1.0,
) -> Array:
    """Returns the mean gradient over `n_samples` copies of x + N(0, sigma^2) noise, shape (n, d).

    Matches Captum `NoiseTunnel(Saliency)` with nt_type="smoothgrad", stdevs=sigma, abs=False.
    """
    _check_inputs(apply_fn, params, x, target)
    _check_key("smoothgrad", key)
    validation.check_int("n_samples", n_samples, 1)
    if validation.is_concrete(sigma) and not (np.ndim(sigma) == 0 and np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    return _smoothgrad(apply_fn, params, x, target, key, sigma, n_samples=int(n_samples))


# --------------------------------------------------------------------------- LIME


def _soft_threshold(v: Array, t: Array) -> Array:
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - t, 0.0)


def _lasso_gram(gram: Array, corr: Array, alpha: Array) -> Array:
    """Returns argmin_c 0.5 c'Gc - h'c + alpha |c|_1 by cyclic coordinate descent (one row)."""
    d = corr.shape[0]
    diag = jnp.diag(gram)
    safe_diag = jnp.where(diag > 0, diag, 1.0)

    def update(j, c):
        rho = corr[j] - gram[j] @ c + diag[j] * c[j]
        return c.at[j].set(jnp.where(diag[j] > 0, _soft_threshold(rho, alpha) / safe_diag[j], 0.0))

    def sweep(state):
        c, _, it = state
        new = lax.fori_loop(0, d, update, c)
        return new, jnp.max(jnp.abs(new - c)), it + 1

    def not_converged(state):
        c, delta, it = state
        scale = jnp.maximum(jnp.max(jnp.abs(c)), jnp.finfo(c.dtype).tiny)
        # Never ask for less movement than float rounding can resolve, or float32 never stops.
        tol = max(_LASSO_TOL, 8 * float(jnp.finfo(c.dtype).eps))
        return (it < _LASSO_MAX_SWEEPS) & (delta > tol * scale)

    # Carry built from `corr` so that, under vmap on an explicit mesh, it inherits the rows' sharding.
    init = (jnp.zeros_like(corr), jnp.full_like(corr[0], jnp.inf), jnp.zeros_like(corr[0], jnp.int32))
    return lax.while_loop(not_converged, sweep, init)[0]


def _weighted_linear_fit(z: Array, f: Array, w: Array, alpha: Array, penalty: str) -> Array:
    """Returns the coefficients (no intercept) of a weighted linear fit f ~ b + z c (one row).

    lasso: min (1 / (2 sum w)) sum w r^2 + alpha |c|_1  (sklearn `Lasso` with sample_weight)
    ridge: min sum w r^2 + alpha |c|^2                   (sklearn `Ridge` with sample_weight)
    The intercept is free in both; centring by weighted means removes it exactly.
    """
    p = w / jnp.sum(w)
    zc = z - p @ z
    fc = f - p @ f
    gram = zc.T @ (p[:, None] * zc)
    corr = zc.T @ (p * fc)
    if penalty == "lasso":
        return _lasso_gram(gram, corr, alpha)
    eye = jnp.eye(z.shape[1], dtype=z.dtype)
    return jnp.linalg.solve(gram + (alpha / jnp.sum(w)) * eye, corr)


@functools.partial(jax.jit, static_argnames=("apply_fn", "n_samples", "penalty", "distance"))
def _lime(apply_fn, params, x, target, key, baseline, kernel_width, alpha, *, n_samples, penalty, distance):
    n, d = x.shape
    base = _full_baseline(baseline, x)
    z = _follow_rows(jax.random.bernoulli(key, 0.5, (n, n_samples, d)).astype(x.dtype), x)
    perturbed = z * x[:, None, :] + (1.0 - z) * base[:, None, :]
    f = _target_logits(apply_fn, params, perturbed, target)
    if distance == "cosine":
        # torch.nn.CosineSimilarity (eps=1e-8 on each norm), as Captum's default LIME kernel uses.
        eps = jnp.asarray(1e-8, x.dtype)
        norm_x = jnp.maximum(jnp.linalg.norm(x, axis=-1), eps)[:, None]
        norm_p = jnp.maximum(jnp.linalg.norm(perturbed, axis=-1), eps)
        dist = 1.0 - jnp.einsum("nd,nsd->ns", x, perturbed) / (norm_x * norm_p)
    else:
        dist = jnp.linalg.norm(perturbed - x[:, None, :], axis=-1)
    width = jnp.asarray(kernel_width, x.dtype)
    sim = jnp.exp(-(dist**2) / (2.0 * width**2))
    alpha = jnp.asarray(alpha, x.dtype)
    return jax.vmap(lambda zi, fi, wi: _weighted_linear_fit(zi, fi, wi, alpha, penalty))(z, f, sim)


def lime(
    apply_fn: ApplyFn,
    params: Params,
    x: Array,
    target: Array,
    key: Array,
    *,
    n_samples: int = 200,
    kernel_width: float = 1.0,
    alpha: float = 1e-4,
    penalty: str = "lasso",
    baseline: Array | None = None,
    distance: str = "cosine",
) -> Array:
    """Returns LIME coefficients in the binary keep/replace space of each feature, shape (n, d).

    Per row: `n_samples` Bernoulli(1/2) masks z; perturbed input z * x + (1 - z) * baseline;
    weights exp(-dist(x, perturbed)^2 / (2 kernel_width^2)) with `distance` "cosine" (Captum's
    default: 1 - cosine similarity) or "euclidean"; a weighted `penalty` ("lasso" or "ridge",
    strength `alpha`, free intercept) fit of the target logit on z. For a linear model the
    coefficients are w * (x - baseline).
    """
    _check_inputs(apply_fn, params, x, target)
    _check_key("lime", key)
    _check_baseline(baseline, x)
    validation.check_int("n_samples", n_samples, 2)
    validation.check_choice("penalty", penalty, LIME_PENALTIES)
    validation.check_choice("distance", distance, LIME_DISTANCES)
    validation.check_positive("kernel_width", kernel_width)
    if validation.is_concrete(alpha) and not (np.ndim(alpha) == 0 and np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return _lime(apply_fn, params, x, target, key, baseline, kernel_width, alpha, n_samples=int(n_samples),
                 penalty=penalty, distance=distance)


# --------------------------------------------------------------------------- Kernel SHAP


@functools.lru_cache(maxsize=None)
def _shapley_design(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns (coalitions (2^d, d) in {0,1}, matrix M (2^d, d)) with phi = v(coalitions) @ M.

    phi_j = sum over S not containing j of |S|! (d-|S|-1)! / d! * (v(S + j) - v(S)).
    """
    masks = (np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1
    size = masks.sum(axis=1)
    weight = np.array([math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)] + [0.0])
    with_j = weight[np.maximum(size - 1, 0)][:, None]
    without_j = weight[np.minimum(size, d)][:, None]
    design = np.where(masks == 1, with_j, -without_j)
    return masks.astype(np.float64), design


def _sample_coalitions(key: Array, n: int, n_samples: int, d: int, dtype) -> Array:
    """Returns (n, n_samples, d) masks: sizes ~ Shapley kernel, subsets uniform, complements paired."""
    half = (n_samples + 1) // 2
    sizes = np.arange(1, d)
    logits = jnp.asarray(np.log((d - 1) / (sizes * (d - sizes))), dtype)
    key_size, key_perm = jax.random.split(key)
    size = 1 + jax.random.categorical(key_size, logits, shape=(n, half))
    order = jnp.argsort(jnp.argsort(jax.random.uniform(key_perm, (n, half, d)), axis=-1), axis=-1)
    z = (order < size[..., None]).astype(dtype)
    return jnp.concatenate([z, 1.0 - z], axis=1)[:, :n_samples]


def _constrained_shap_fit(z: Array, v: Array, v_empty: Array, v_full: Array) -> Array:
    """Returns phi minimising sum (v - v_empty - z phi)^2 subject to sum(phi) = v_full - v_empty."""
    total = v_full - v_empty
    # Eliminate the last feature through the efficiency constraint.
    design = z[:, :-1] - z[:, -1:]
    response = v - v_empty - z[:, -1] * total
    head = jnp.linalg.lstsq(design, response)[0]
    return jnp.concatenate([head, (total - jnp.sum(head))[None]])


@functools.partial(jax.jit, static_argnames=("apply_fn", "n_samples", "exact"))
def _kernel_shap(apply_fn, params, x, target, key, baseline, *, n_samples, exact):
    n, d = x.shape
    base = _full_baseline(baseline, x)
    if exact:
        masks, design = (jnp.asarray(a, x.dtype) for a in _shapley_design(d))
        z = jnp.broadcast_to(masks, (n,) + masks.shape)
    else:
        ends = _follow_rows(jnp.broadcast_to(jnp.asarray([[0.0] * d, [1.0] * d], x.dtype), (n, 2, d)), x)
        samples = _follow_rows(_sample_coalitions(key, n, n_samples, d, x.dtype), x)
        z = jnp.concatenate([ends, samples], axis=1)
    v = _target_logits(apply_fn, params, z * x[:, None, :] + (1.0 - z) * base[:, None, :], target)
    if exact:
        return v @ design
    return jax.vmap(_constrained_shap_fit)(z[:, 2:], v[:, 2:], v[:, 0], v[:, 1])


def kernel_shap(
    apply_fn: ApplyFn,
    params: Params,
    x: Array,
    target: Array,
    key: Array | None,
    *,
    baseline: Array | None = None,
    n_samples: int = 200,
    exact_max_features: int = 12,
) -> Array:
    """Returns Kernel SHAP attributions (Shapley values with a baseline), shape (n, d).

    Value of a coalition S: the target logit at x on S and `baseline` elsewhere. For
    d <= `exact_max_features` the Shapley values are computed exactly from all 2^d coalitions
    (`key` and `n_samples` unused; `key` may be None). Otherwise `n_samples` coalitions per row
    are drawn from the Shapley kernel (size s with probability proportional to
    (d-1)/(s(d-s)), members uniform, each paired with its complement) and fitted by least squares
    under the efficiency constraint sum(phi) = f(x) - f(baseline). Rows sum to f(x) - f(baseline)
    in both modes.
    """
    _check_inputs(apply_fn, params, x, target)
    _check_baseline(baseline, x)
    validation.check_int("exact_max_features", exact_max_features, 0, 20)
    exact = np.shape(x)[1] <= exact_max_features
    if not exact:
        _check_key("kernel_shap (sampled, d > exact_max_features)", key)
        validation.check_int("n_samples", n_samples, 2)
    else:
        key = None
    return _kernel_shap(apply_fn, params, x, target, key, baseline, n_samples=int(n_samples), exact=exact)


# --------------------------------------------------------------------------- by name

_EXPLAINERS: dict[str, Callable[..., Array]] = {
    "vanilla_gradient": vanilla_gradient,
    "gradient_x_input": gradient_x_input,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "lime": lime,
    "kernel_shap": kernel_shap,
}


def check_explainer_name(name: str, allowed: tuple[str, ...] = ALL_EXPLAINERS, argument: str = "name") -> str:
    """Returns `name`; raises a ValueError naming `argument` unless it is one of `allowed`."""
    if name not in allowed:
        raise ValueError(f"{argument} must be one of {allowed}, got {name!r}")
    return name


def explain(
    name: str,
    apply_fn: ApplyFn,
    params: Params,
    x: Array,
    target: Array,
    key: Array | None = None,
    **kwargs: Any,
) -> Array:
    """Returns the (n, d) attributions of the explainer called `name` (one of ALL_EXPLAINERS).

    `key` is passed to the sampling explainers (smoothgrad, lime, kernel_shap) and ignored by the
    gradient ones; `kwargs` are that explainer's keyword settings.
    """
    check_explainer_name(name)
    fn = _EXPLAINERS[name]
    if name in SAMPLING_EXPLAINERS:
        return fn(apply_fn, params, x, target, key, **kwargs)
    return fn(apply_fn, params, x, target, **kwargs)
