"""Imports every domain's models so metadata (and Alembic) sees every table."""

from eresident.audit import models as _audit  # noqa: F401
from eresident.banking import models as _banking  # noqa: F401
from eresident.credentials import models as _credentials  # noqa: F401
from eresident.crosscase import models as _crosscase  # noqa: F401
from eresident.dashboard import models as _dashboard  # noqa: F401
from eresident.documents import models as _documents  # noqa: F401
from eresident.enterprise import models as _enterprise  # noqa: F401
from eresident.federation import models as _federation  # noqa: F401
from eresident.identity import models as _identity  # noqa: F401
from eresident.identity import recognition as _recognition  # noqa: F401
from eresident.kit import models as _kit  # noqa: F401
from eresident.officials import models as _officials  # noqa: F401
from eresident.officials import secondment_models as _secondments  # noqa: F401
from eresident.security import models as _security  # noqa: F401
from eresident.sites import models as _sites  # noqa: F401
from eresident.tax import models as _tax  # noqa: F401
from eresident.workflow import models as _workflow  # noqa: F401
from eresident.kit.db import Base

metadata = Base.metadata
