# The compiled twin of _packets_py.py; its API is described once, in _types.pyi.
from ._types import Auth as Auth
from ._types import Connack as Connack
from ._types import Connect as Connect
from ._types import Disconnect as Disconnect
from ._types import Pingreq as Pingreq
from ._types import Pingresp as Pingresp
from ._types import Puback as Puback
from ._types import Pubcomp as Pubcomp
from ._types import Publish as Publish
from ._types import Pubrec as Pubrec
from ._types import Pubrel as Pubrel
from ._types import Suback as Suback
from ._types import Subscribe as Subscribe
from ._types import Subscription as Subscription
from ._types import Unsuback as Unsuback
from ._types import Unsubscribe as Unsubscribe
from ._types import Will as Will
