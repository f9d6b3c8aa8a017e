"""Training: what optax loops over `nt.simulate` keep rewriting, offline and online learning, and
reservoirs.

Training is a plain optax loop over `eqx.filter_value_and_grad` of a loss built on `nt.simulate`;
this package adds encoders, readouts, losses, a `fit` helper, checkpoints, ridge regression,
FORCE (recursive least squares), echo state networks and NVAR, and e-prop.
"""

from ._checkpoint import (
    Checkpoint as Checkpoint,
    load_checkpoint as load_checkpoint,
    save_checkpoint as save_checkpoint,
)
from ._decision_task import (
    DecisionTrials as DecisionTrials,
    ideal_accuracy as ideal_accuracy,
    perceptual_decision as perceptual_decision,
)
from ._encoders import (
    bernoulli_encode as bernoulli_encode,
    latency_encode as latency_encode,
    poisson_encode as poisson_encode,
)
from ._eprop import RSNN as RSNN, RSNNState as RSNNState, eprop as eprop
from ._esn import EchoStateNetwork as EchoStateNetwork, ESNState as ESNState
from ._evidence import (
    EvidenceTrials as EvidenceTrials,
    evidence_accumulation as evidence_accumulation,
)
from ._fit import fit as fit
from ._force import (
    ForceResult as ForceResult,
    RLSState as RLSState,
    force as force,
    rls_init as rls_init,
    rls_update as rls_update,
)
from ._losses import (
    accuracy as accuracy,
    cross_entropy as cross_entropy,
    rate_regularizer as rate_regularizer,
    spike_count_regularizer as spike_count_regularizer,
)
from ._nvar import NVAR as NVAR, NVARState as NVARState
from ._rate_rnn import RateRNN as RateRNN, RateRNNState as RateRNNState
from ._readouts import (
    last_readout as last_readout,
    max_readout as max_readout,
    mean_readout as mean_readout,
)
from ._ridge import ridge as ridge
