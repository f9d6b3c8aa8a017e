"""Training speed: neurotree's 3-layer SNN, trained by BPTT through `nt.simulate`.

The model is neurotree's own modules: `nt.comm.EventDense` (784 -> 100: the input spikes go
through the event-driven kernel, which reads only the weight rows of the inputs that spiked, in
the forward product and in the weight gradient), `nt.synapses.Expon` (tau 5 ms),
`nt.neurons.LIF` (tau 10 ms, threshold 1, reset to 0 detached from the gradient, sigmoid
surrogate of slope 4), `nt.comm.Dense` (100 -> 10) and `nt.neurons.LeakyIntegrator` (tau 20 ms).
Discretisation (dt = 1 ms, exponential Euler, exact for inputs held over a step):
i <- alpha i + W1 x; v <- beta v + (1 - beta) i; o <- kappa o + (1 - kappa) R W2 s with R =
1 / (1 - kappa), so the same equations as `_train_jax.py`. Only W1 and W2 are trained.
`--variant hoisted` applies the input layer to the whole spike train before the scan (the
layer is feedforward, so this is the same model): one (T batch, 784) x (784, 100) event product
for the whole run instead of T small ones, the way to write a feedforward input layer in
neurotree (SpikingJelly's multi-step mode does the same).
"""

import equinox as eqx
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

import neurotree as nt

args = parse_args()
hoisted = args.variant == "hoisted"


class SNN(nt.DynamicalSystem):
    fc1: nt.comm.EventDense
    syn: nt.synapses.Expon
    lif: nt.neurons.LIF
    fc2: nt.comm.Dense
    out: nt.neurons.LeakyIntegrator

    def init_state(self, batch_shape=(), *, key=None):
        return (
            self.syn.init_state(tuple(batch_shape) + (self.fc1.n_post,)),
            self.lif.init_state(batch_shape),
            self.out.init_state(batch_shape),
        )

    def __call__(self, state, x, *, t, dt, key=None):
        syn, lif, out = state
        syn, i = self.syn(syn, x if hoisted else self.fc1(x), t=t, dt=dt)
        lif, s = self.lif(lif, i, t=t, dt=dt)
        out, o = self.out(out, self.fc2(s), t=t, dt=dt)
        return (syn, lif, out), o


w1, w2 = initial_weights(args)
model = SNN(
    fc1=nt.comm.EventDense(w1),
    syn=nt.synapses.Expon(TAU_SYN),
    lif=nt.neurons.LIF(100, tau=TAU_MEM, v_rest=0.0, v_reset=0.0, v_th=V_TH,
                       spike_fn=nt.surrogate.Sigmoid(4.0)),
    fc2=nt.comm.Dense(w2),
    out=nt.neurons.LeakyIntegrator(10, tau=TAU_OUT, R=1.0 / (1.0 - np.exp(-DT / TAU_OUT))),
)  # fmt: skip
trainable = jax.tree.map(lambda _: False, model)
trainable = eqx.tree_at(lambda m: (m.fc1.weight, m.fc2.weight), trainable, (True, True))
params, static = eqx.partition(model, trainable)


def loss(params, x, y):
    model = eqx.combine(params, static)
    inputs = model.fc1(x) if hoisted else x
    state = model.init_state((x.shape[1],))
    _, o = nt.simulate(model, state, inputs, dt=DT, n_steps=x.shape[0])
    return optax.softmax_cross_entropy_with_integer_labels(o.mean(0), y).mean()


optimizer = optax.adam(LEARNING_RATE)


@eqx.filter_jit
def train_step(params, opt_state, x, y):
    value, grads = eqx.filter_value_and_grad(loss)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return eqx.apply_updates(params, updates), opt_state, value


x, y = (jnp.asarray(a) for a in task(args))
state = {"params": params, "opt": optimizer.init(params)}


def step():
    state["params"], state["opt"], value = train_step(state["params"], state["opt"], x, y)
    return value.block_until_ready()


measure(step, args, library="neurotree", version=nt.__version__,
        discretisation="exponential Euler (exact over a step); reset to 0",
        reset_gradient=False)  # fmt: skip
