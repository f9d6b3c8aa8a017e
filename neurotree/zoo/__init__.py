"""Published models, each a `nt.Network` (or a model) that `nt.simulate` runs as it is."""
from ._coba import COBA as COBA
from ._cobahh import COBAHH as COBAHH
from ._cuba import CUBA as CUBA
