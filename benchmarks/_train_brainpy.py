"""Training speed: the 3-layer SNN in BrainPy 2.x (brainpy.math), as BrainPy's training
examples write it: `bp.dnn.Linear` -> `bp.dyn.Expon` (tau 5 ms) -> `bp.dyn.Lif` (tau 10 ms,
threshold 1, hard reset to 0, sigmoid surrogate of slope 4) ->
`bp.dnn.Linear` -> `bp.dyn.Leaky` (tau 20 ms), stepped by `bm.for_loop`, gradients by `bm.grad`,
`bp.optim.Adam`. Its default method, exp_auto (exponential Euler), dt = 1 ms.

The reset passes gradient: BrainPy's `detach_spk=True` detaches the spike itself, output
included (`spike = stop_gradient(spike)` before the reset and the return), which would cut
every gradient but the readout's; with `detach_spk=False` the hard reset
V += (V_reset - V) spike carries the surrogate gradient.
"""

import brainpy as bp
import brainpy.math as bm
import jax.numpy as jnp
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
bm.set_platform("cpu")
bm.set_environment(mode=bm.training_mode, dt=DT)
w1, w2 = initial_weights(args)


class SNN(bp.DynamicalSystem):
    def __init__(self):
        super().__init__()
        self.fc1 = bp.dnn.Linear(784, 100, W_initializer=bm.asarray(w1), b_initializer=None)
        self.syn = bp.dyn.Expon(100, tau=TAU_SYN)
        self.lif = bp.dyn.Lif(100, tau=TAU_MEM, V_rest=0.0, V_reset=0.0, V_th=V_TH,
                              spk_fun=bm.surrogate.Sigmoid(alpha=4.0), spk_reset="hard",
                              detach_spk=False)  # fmt: skip
        self.fc2 = bp.dnn.Linear(100, 10, W_initializer=bm.asarray(w2), b_initializer=None)
        self.out = bp.dyn.Leaky(10, tau=TAU_OUT)

    def update(self, x):
        return self.out(self.fc2(self.lif(self.syn(self.fc1(x)))))


model = SNN()
optimizer = bp.optim.Adam(lr=LEARNING_RATE, train_vars=model.train_vars().unique())
x_np, y_np = task(args)
x, y = jnp.asarray(x_np), jnp.asarray(y_np)


def loss_fn(x, y):
    bp.reset_state(model, x.shape[1])
    outs = bm.for_loop(model.step_run, (jnp.arange(x.shape[0]), x))
    return bp.losses.cross_entropy_loss(outs.mean(0), y)


grad_fn = bm.grad(loss_fn, grad_vars=optimizer.vars_to_train, return_value=True)


@bm.jit
def train_step(x, y):
    grads, loss = grad_fn(x, y)
    optimizer.update(grads)
    return loss


def step():
    return train_step(x, y).block_until_ready()


measure(step, args, library="BrainPy", version=bp.__version__,
        discretisation="exp_auto (exponential Euler); hard reset to 0",
        reset_gradient=True)  # fmt: skip
