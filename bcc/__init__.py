__version__ = "0.1.0"

import sys as _sys
if _sys.argv and _sys.argv[0].replace('\\', '/').rsplit('/', 1)[-1].startswith('bcc_'):
    from .core import quiet_tensorflow as _quiet   # a console script: no TensorFlow start-up lines (see bcc.core)
    _quiet()
