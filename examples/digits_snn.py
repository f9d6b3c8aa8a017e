"""A spiking network trained by BPTT on scikit-learn's digits: >= 95% test accuracy.

Three layers, built from neurotree modules as one `nt.Network`:

    pixels (64, Bernoulli spike trains)
      -> Dense -> Expon synapse (tau_syn) -> CUBA -> hidden LIF (n_hidden)
      -> Dense -> Expon synapse (tau_syn) -> CUBA -> readout LeakyIntegrator (10)

The 8x8 images (intensities 0..16, scaled to [0, 1]) become spike trains with
`nt.training.bernoulli_encode`: pixel x spikes with probability p_max x at every 1 ms step,
drawn afresh for every batch (the step key of `fit`). The logits are the time averages of the
readout membranes (`mean_readout`), the loss their cross-entropy; `nt.training.fit` trains
the two weight matrices with optax's Adam (cosine-decayed learning rate; time constants and
thresholds stay fixed), the gradient flowing back through time and through the LIF spikes by
their surrogate derivative. The trained network and optimiser state are saved with
`save_checkpoint` and reloaded.
A stratified 30% of the digits (fixed seed) is held out and never trained on.

The LIF step is exponential Euler (exact for the current held over a step):
v <- v_rest + (v - v_rest) exp(-dt / tau) + R I (1 - exp(-dt / tau)); then spike = H(v - v_th)
(backward: SuperSpike's fast sigmoid), v <- (1 - spike) v + spike v_reset, with the reset
detached from the gradient (`detach_reset=True`, the default: Zenke & Vogels 2021 found it
trains better). The input population, `nt.inputs.SpikeTrain`, emits the encoded spikes it is
given, so the projections read them like any neuron's.

Reference: Zenke & Vogels (2021), Neural Computation 33(4):899-925 (surrogate-gradient
training of spiking networks, readouts of leaky output units); Alpaydin & Kaynak (1998), UCI
optical recognition of handwritten digits (the data).

    python examples/digits_snn.py [--small] [--out examples/out]
"""

import argparse
import pathlib
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import neurotree as nt

T = nt.training


def build(key, n_in=64, n_hidden=128, n_out=10, tau_syn=5.0, w_scale=(6.0, 4.0)):
    """The network; weights drawn N(0, (w_scale / sqrt(fan_in))^2) in mV per spike."""
    k1, k2 = jax.random.split(key)
    w1 = w_scale[0] / np.sqrt(n_in) * jax.random.normal(k1, (n_in, n_hidden))
    w2 = w_scale[1] / np.sqrt(n_hidden) * jax.random.normal(k2, (n_hidden, n_out))
    lif = nt.neurons.LIF(
        n_hidden, tau=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0,
        spike_fn=nt.surrogate.FastSigmoid(alpha=10.0),
    )  # fmt: skip
    return nt.Network(
        populations={
            "pixels": nt.inputs.SpikeTrain(n_in),
            "hidden": lif,
            "readout": nt.neurons.LeakyIntegrator(n_out, tau=10.0),
        },
        projections={
            "in": nt.AlignPost(
                pre="pixels", post="hidden", comm=nt.comm.Dense(w1),
                syn=nt.synapses.Expon(tau=tau_syn), out=nt.synapses.CUBA(),
            ),
            "out": nt.AlignPost(
                pre="hidden", post="readout", comm=nt.comm.Dense(w2),
                syn=nt.synapses.Expon(tau=tau_syn), out=nt.synapses.CUBA(),
            ),
        },
    )  # fmt: skip


def weights(net):
    return net.projections["in"].comm.weight, net.projections["out"].comm.weight


def _monitor(state, outputs):
    return outputs["readout"], outputs["hidden"]


def run(net, x, key, *, n_steps, dt, p_max):
    """Encode a batch of images x (B, 64) and simulate: (readout v, hidden spikes), (T, B, n)."""
    spikes = T.bernoulli_encode(key, p_max * x, n_steps=n_steps)
    state = net.init_state(batch_shape=(x.shape[0],))
    _, (v, hidden) = nt.simulate(net, state, {"pixels": spikes}, dt=dt, n_steps=n_steps,
                                 monitor=_monitor)  # fmt: skip
    return v, hidden


def main(small: bool = False, out: str = "examples/out") -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    n_steps, dt, p_max, batch_size = 60, 1.0, 0.4, 64
    epochs = 3 if small else 60
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=0
    )
    key_net, key_fit, key_test = jax.random.split(jax.random.key(0), 3)
    net = build(key_net)
    kw = dict(n_steps=n_steps, dt=dt, p_max=p_max)

    def loss_fn(net, batch, key):
        xb, yb = batch
        v, hidden = run(net, xb, key, **kw)
        logits = T.mean_readout(v)
        rate = hidden.mean() * 1000.0 / dt
        return T.cross_entropy(logits, yb), {"accuracy": T.accuracy(logits, yb), "rate_hz": rate}

    @eqx.filter_jit
    def evaluate(net, data):
        xb, yb = data  # one fixed encoding of the test digits
        v, _ = run(net, xb, key_test, **kw)
        logits = T.mean_readout(v)
        return {"accuracy": T.accuracy(logits, yb), "loss": T.cross_entropy(logits, yb)}

    trainable = eqx.tree_at(weights, jax.tree.map(lambda _: False, net), (True, True))
    n_updates = epochs * -(-len(x_train) // batch_size)
    optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, n_updates))
    start = time.perf_counter()
    net, opt_state, history = T.fit(
        loss_fn, net, optimizer, (x_train, y_train), epochs=epochs, batch_size=batch_size,
        key=key_fit, has_aux=True, eval_fn=evaluate, eval_data=(x_test, y_test),
        trainable=trainable, progress=not small,
    )  # fmt: skip
    train_time = time.perf_counter() - start
    test_acc = float(history["eval_accuracy"][-1])
    print(f"{len(x_train)} train / {len(x_test)} test digits, {epochs} epochs, "
          f"{train_time:.1f} s of training (compilation included)")  # fmt: skip
    for e in sorted({*range(0, epochs, max(1, epochs // 6)), epochs - 1}):
        print(f"epoch {e + 1:3d}: loss {history['loss'][e]:.3f}  train acc "
              f"{history['accuracy'][e]:.3f}  test acc {history['eval_accuracy'][e]:.3f}  "
              f"hidden rate {history['rate_hz'][e]:.1f} Hz")  # fmt: skip
    print(f"test accuracy: {test_acc:.4f}")

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    # The trained network and Adam state round-trip through a checkpoint.
    ckpt = T.save_checkpoint(path / "digits_snn.eqx", net, opt_state, step=epochs,
                             metadata={"test_accuracy": test_acc})  # fmt: skip
    like = build(key_net)
    like_state = optimizer.init(eqx.filter(like, trainable))
    reloaded = T.load_checkpoint(ckpt, like, like_state)
    reloaded_acc = float(evaluate(reloaded.model, (x_test, y_test))["accuracy"])
    _figure(path / "digits_snn.png", history, net, x_test[0], y_test[0], key_test, kw)
    return dict(
        test_accuracy=test_acc, reloaded_accuracy=reloaded_acc, history=history,
        train_time=train_time, epochs=epochs, n_train=len(x_train), n_test=len(x_test),
    )  # fmt: skip


def _figure(file, history, net, image, label, key, kw):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v, hidden = run(net, jnp.asarray(image)[None], key, **kw)
    v, hidden = np.asarray(v[:, 0]), np.asarray(hidden[:, 0])
    predicted = int(v.mean(0).argmax())
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    ax.plot(epochs, history["loss"], label="train")
    ax.plot(epochs, history["eval_loss"], label="test")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax.legend(frameon=False)
    ax = axes[1]
    ax.plot(epochs, history["accuracy"], label="train")
    ax.plot(epochs, history["eval_accuracy"], label="test")
    ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    ax.legend(frameon=False)
    ax = axes[2]
    t, i = np.nonzero(hidden)
    ax.plot(t * kw["dt"], i, "k|", ms=3)
    ax.set(xlabel="time (ms)", ylabel="hidden neuron",
           title=f"hidden spikes, a test '{label}' (predicted {predicted})")  # fmt: skip
    fig.tight_layout()
    fig.savefig(file, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few epochs only")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
