"""Training speed: the 3-layer SNN in PyTorch libraries (CPU), each in its own environment.

    python _train_torch.py --variant torch|snntorch|norse|spikingjelly [--T 25] ...

Each library's own neurons and idiom (a Python loop over time steps, or its multi-step mode),
with the time constants of `_train_common.py` (dt = 1 ms, tau_syn 5, tau_mem 10, tau_out 20 ms,
threshold 1) and its own discretisation (printed in the report):
- torch: the loop of `_train_jax.py` written in PyTorch (exponential Euler, reset to 0
  detached, sigmoid surrogate of slope 4).
- snntorch: `snn.Synaptic(alpha, beta)` hidden (syn <- alpha syn + W1 x; mem <- beta mem + syn
  - reset, the reset by subtraction of the previous step's spike, detached), `snn.Leaky(kappa,
  reset_mechanism="none")` readout; `surrogate.sigmoid(slope=4)`.
- norse: `LIFCell` (forward Euler of tau_mem dv/dt = v_leak - v + i, tau_syn di/dt = -i, jump
  of i by W1 x, reset to v_reset through the spike, not detached; SuperSpike surrogate, its
  default) and `LICell` readout.
- spikingjelly: multi-step mode (`step_mode="m"`): `nn.Linear` on (T, batch, n),
  `layer.SynapseFilter(tau 5)`, `neuron.LIFNode(tau 10, decay_input, hard reset to 0,
  detach_reset=True, Sigmoid(4))`,
  `nn.Linear`, and `neuron.NonSpikingLIFNode(tau 20, decode="mean-mem")` as the readout.
"""

import importlib.metadata
import math

import torch
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
alpha, beta, kappa = (math.exp(-DT / tau) for tau in (TAU_SYN, TAU_MEM, TAU_OUT))
torch.manual_seed(args.seed)
x_np, y_np = task(args)
x, y = torch.from_numpy(x_np), torch.from_numpy(y_np).long()
w1, w2 = (torch.from_numpy(w.T.copy()) for w in initial_weights(args))  # (out, in)


def linear(n_in, n_out, w, **kw):
    layer = torch.nn.Linear(n_in, n_out, bias=False, **kw)
    with torch.no_grad():
        layer.weight.copy_(w)
    return layer


class SigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        s = torch.sigmoid(4.0 * u)
        return grad * 4.0 * s * (1 - s)


class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = linear(784, 100, w1), linear(100, 10, w2)

    def forward(self, x):
        batch = x.shape[1]
        i = torch.zeros(batch, 100)
        v = torch.zeros(batch, 100)
        o = torch.zeros(batch, 10)
        total = 0
        for t in range(x.shape[0]):
            i = alpha * i + self.fc1(x[t])
            v = beta * v + (1 - beta) * i
            s = SigmoidSpike.apply(v - V_TH)
            v = v * (1 - s.detach())
            o = kappa * o + self.fc2(s)
            total = total + o
        return total / x.shape[0]


def snntorch_model():
    import snntorch as snn
    from snntorch import surrogate

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = linear(784, 100, w1), linear(100, 10, w2)
            grad = surrogate.sigmoid(slope=4)
            self.lif = snn.Synaptic(alpha=alpha, beta=beta, threshold=V_TH, spike_grad=grad)
            self.out = snn.Leaky(beta=kappa, reset_mechanism="none")

        def forward(self, x):
            syn, mem = self.lif.reset_mem()
            mem_out = self.out.reset_mem()
            total = 0
            for t in range(x.shape[0]):
                spk, syn, mem = self.lif(self.fc1(x[t]), syn, mem)
                _, mem_out = self.out(self.fc2(spk), mem_out)
                total = total + mem_out
            return total / x.shape[0]

    return Net(), "syn <- a syn + W x; mem <- b mem + syn - reset (subtract, delayed)", False


def norse_model():
    from norse.torch import LICell, LIFCell, LIFParameters, LIParameters

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = linear(784, 100, w1), linear(100, 10, w2)
            p = LIFParameters(tau_syn_inv=torch.tensor(1000.0 / TAU_SYN),
                              tau_mem_inv=torch.tensor(1000.0 / TAU_MEM),
                              v_leak=torch.tensor(0.0), v_th=torch.tensor(V_TH),
                              v_reset=torch.tensor(0.0))  # fmt: skip
            self.lif = LIFCell(p, dt=DT / 1000.0)
            self.out = LICell(LIParameters(tau_mem_inv=torch.tensor(1000.0 / TAU_OUT)),
                              dt=DT / 1000.0)  # fmt: skip

        def forward(self, x):
            s_lif = s_out = None
            total = 0
            for t in range(x.shape[0]):
                z, s_lif = self.lif(self.fc1(x[t]), s_lif)
                v, s_out = self.out(self.fc2(z), s_out)
                total = total + v
            return total / x.shape[0]

    return Net(), "forward Euler; reset to v_reset", True


def spikingjelly_model():
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = linear(784, 100, w1), linear(100, 10, w2)
            self.syn = layer.SynapseFilter(tau=TAU_SYN, learnable=False, step_mode="m")
            self.lif = neuron.LIFNode(tau=TAU_MEM, v_threshold=V_TH, v_reset=0.0,
                                      surrogate_function=surrogate.Sigmoid(alpha=4.0),
                                      detach_reset=True, step_mode="m")  # fmt: skip
            self.out = neuron.NonSpikingLIFNode(tau=TAU_OUT, decode="mean-mem")

        def forward(self, x):
            functional.reset_net(self)
            s = self.lif(self.syn(self.fc1(x)))  # Linear applies to (T, batch, n) at once
            return self.out(self.fc2(s))

    return Net(), "multi-step; decay_input Euler (v <- v + (x - v) / tau); hard reset", False


if args.variant == "torch":
    net, disc, reset_grad = Plain(), "exponential Euler; reset to 0", False
    library, version = "PyTorch (hand-written loop)", torch.__version__
else:
    net, disc, reset_grad = globals()[f"{args.variant}_model"]()
    library = args.variant
    version = importlib.metadata.version(args.variant)
optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
loss_fn = torch.nn.CrossEntropyLoss()


def step():
    optimizer.zero_grad()
    loss = loss_fn(net(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


lib_version = version if args.variant == "torch" else f"{version} (torch {torch.__version__})"
args.variant = ""  # the library's name, not a variant of it
measure(step, args, library=library, version=lib_version,
        discretisation=disc, reset_gradient=reset_grad)  # fmt: skip
