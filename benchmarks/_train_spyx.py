"""Training speed: the 3-layer SNN in Spyx (JAX, Flax NNX), as Spyx's tutorials write it:
`spyx.nn.Sequential([nnx.Linear, spyx.nn.CuBaLIF, nnx.Linear, spyx.nn.LI])` scanned by
`spyx.nn.run`, `nnx.value_and_grad`, `nnx.Optimizer(optax.adam)`, all under `nnx.jit`.

Discretisation (Spyx's own): CuBaLIF spikes on the previous step's V and resets by subtraction
(V <- V - s threshold), then I <- alpha I + W1 x and V <- beta V + I (no 1 - beta factor); LI
readout V <- kappa V + W2 s; its default SuperSpike surrogate (k 25). alpha, beta, kappa are
Spyx parameters and train too (three scalars).
"""

import importlib.metadata
import math

import jax
import jax.numpy as jnp
import optax
import spyx.nn as snn
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
from flax import nnx

args = parse_args()
alpha, beta, kappa = (math.exp(-DT / tau) for tau in (TAU_SYN, TAU_MEM, TAU_OUT))
rngs = nnx.Rngs(args.seed)
w1, w2 = initial_weights(args)
fc1 = nnx.Linear(784, 100, use_bias=False, rngs=rngs)
fc2 = nnx.Linear(100, 10, use_bias=False, rngs=rngs)
fc1.kernel.value, fc2.kernel.value = jnp.asarray(w1), jnp.asarray(w2)
model = snn.Sequential(
    fc1,
    snn.CuBaLIF((100,), alpha=alpha, beta=beta, threshold=V_TH, rngs=rngs),
    fc2,
    snn.LI((10,), beta=kappa, rngs=rngs),
)
optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)


def loss_fn(model, x, y):
    out, _ = snn.run(model, x)
    return optax.softmax_cross_entropy_with_integer_labels(out.mean(0), y).mean()


@nnx.jit
def train_step(model, optimizer, x, y):
    value, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return value


x, y = (jnp.asarray(a) for a in task(args))


def step():
    return train_step(model, optimizer, x, y).block_until_ready()


measure(step, args, library="Spyx", version=f"{importlib.metadata.version('spyx')} (jax "
        f"{jax.__version__})", discretisation="subtract reset on the previous V; V <- b V + I",
        reset_gradient=True)  # fmt: skip
