"""Great Expectations suites as code, and one runner returning plain results.

Importing this package switches GX usage statistics off for the process before GX itself is
imported: validation never touches the network. `expectations.suites` stays import-light (GX
is imported only when a suite is built), so loading the Dagster definitions stays fast.
"""

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"
