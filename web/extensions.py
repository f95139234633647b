"""Extension objects, created unbound here and bound to an app in ``create_app``."""

from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mailman import Mail
from flask_smorest import Api
from flask_wtf import CSRFProtect

from web.db import Database

db = Database()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
api = Api()
mail = Mail()
# Pages, CSS, JS and JSON go out compressed (zstd, brotli or gzip, as the browser accepts). Against BREACH: the
# session cookie is SameSite=Lax, so the many cross-site requests that attack needs carry no session.
compress = Compress()
