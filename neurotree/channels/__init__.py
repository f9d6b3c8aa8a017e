"""Ion channels composed into conductance-based neurons (`nt.neurons.CondNeuron`)."""

from ._base import IonChannel as IonChannel
from ._calcium import ICaL as ICaL, ICaT as ICaT
from ._hh import IK_HH as IK_HH, INa_HH as INa_HH
from ._leak import ILeak as ILeak
from ._potassium import IK_M as IK_M
from ._traub_miles import IK_TM as IK_TM, INa_TM as INa_TM
