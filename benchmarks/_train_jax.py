"""Training speed: a hand-written JAX loop (jax.lax.scan, no library), the floor to beat.

Discretisation (dt = 1 ms): i <- alpha i + W1 x; v <- beta v + (1 - beta) i; s = H(v - 1);
v <- v (1 - s) (reset to 0, detached from the gradient); o <- kappa o + W2 s; loss =
cross-entropy of the time-mean of o. Sigmoid surrogate (slope 4). `--variant hoisted` applies
W1 to the whole spike train before the scan (one matmul instead of T).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _train_common import (
    DT,
    LEARNING_RATE,
    TAU_MEM,
    TAU_OUT,
    TAU_SYN,
    V_TH,
    initial_weights,
    measure,
    parse_args,
    task,
)

args = parse_args()
hoisted = args.variant == "hoisted"
alpha, beta, kappa = (float(np.exp(-DT / tau)) for tau in (TAU_SYN, TAU_MEM, TAU_OUT))


@jax.custom_jvp
def spike(x):
    return (x >= 0).astype(x.dtype)


@spike.defjvp
def _spike_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    s = jax.nn.sigmoid(4.0 * x)
    return spike(x), 4.0 * s * (1 - s) * dx


def loss(params, x, y):
    def step(carry, xt):
        i, v, o = carry
        i = alpha * i + (xt if hoisted else xt @ params["w1"])
        v = beta * v + (1 - beta) * i
        s = spike(v - V_TH)
        v = v * (1 - jax.lax.stop_gradient(s))
        o = kappa * o + s @ params["w2"]
        return (i, v, o), o

    batch = x.shape[1]
    xs = x @ params["w1"] if hoisted else x
    zeros = (jnp.zeros((batch, 100)), jnp.zeros((batch, 100)), jnp.zeros((batch, 10)))
    _, o = jax.lax.scan(step, zeros, xs)
    return optax.softmax_cross_entropy_with_integer_labels(o.mean(0), y).mean()


optimizer = optax.adam(LEARNING_RATE)


@jax.jit
def train_step(params, opt_state, x, y):
    value, grads = jax.value_and_grad(loss)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value


x, y = (jnp.asarray(a) for a in task(args))
w1, w2 = initial_weights(args)
state = {"params": {"w1": jnp.asarray(w1), "w2": jnp.asarray(w2)}}
state["opt"] = optimizer.init(state["params"])


def step():
    state["params"], state["opt"], value = train_step(state["params"], state["opt"], x, y)
    return value.block_until_ready()


measure(step, args, library="JAX (hand-written scan)", version=jax.__version__,
        discretisation="exponential Euler; reset to 0", reset_gradient=False)  # fmt: skip
