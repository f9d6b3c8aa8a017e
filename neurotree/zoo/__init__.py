"""Published models, each a `nt.Network` (or a model) that `nt.simulate` runs as it is."""

from ._cann import CANN1D as CANN1D
from ._coba import COBA as COBA
from ._cobahh import COBAHH as COBAHH
from ._cuba import CUBA as CUBA
from ._decision_making import DecisionMaking as DecisionMaking
from ._multi_area import MultiArea as MultiArea
from ._ventral_stream import VentralStream as VentralStream
from ._wong_wang import WongWang as WongWang, WongWangState as WongWangState
