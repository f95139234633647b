"""``POST /api/v1/solve``: the solver for tools, speaking the ``craftmatch solve`` JSON (``matching.io``).

Bearer-token auth (``Authorization: Bearer cm_…``, scope ``solve``), a size limit, and every error in the
app's one JSON error shape: 401 without a valid token, 403 without the scope, 413 when too large, 415 when
not JSON, 422 naming the bad field.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_smorest import Blueprint

from matching.io import loads_json, parse_problem, result_to_json
from matching.problem import ProblemError
from matching.solve import solve
from web.api.auth import token_required
from web.errors import error_body

blp = Blueprint("solve", __name__, description="Solve a matching problem given as craftmatch solve JSON")
DEFAULT_MAX_BYTES = 2 * 1024 * 1024


def _error(status: int, code: str, message: str, errors: dict | None = None):
    response = jsonify(error_body(status, code, message, errors))
    response.status_code = status
    return response


@blp.route("/solve", methods=["POST"])
@token_required(blp, "solve")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
         responses={"200": {"description": "The result document of craftmatch solve"},
                    "413": {"description": "The problem is larger than the limit"},
                    "422": {"description": "Malformed problem; errors names the field"}})
def solve_problem():
    limit = int(current_app.config.get("SOLVE_MAX_BYTES", DEFAULT_MAX_BYTES))
    too_large = _("The problem is larger than %(limit)d bytes; run a matching round in the workspace instead.",
                  limit=limit)
    if request.content_length is not None and request.content_length > limit:
        return _error(413, "too_large", too_large)
    if request.mimetype != "application/json":
        return _error(415, "unsupported_media_type", _("Send the problem as application/json."))
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        return _error(413, "too_large", too_large)
    try:
        problem = parse_problem(loads_json(raw.decode("utf-8")))
    except UnicodeDecodeError:
        return _error(400, "bad_request", _("The body is not UTF-8 text."))
    except ValueError as error:  # ProblemError, and json's own errors
        field = getattr(error, "field", "input") if isinstance(error, ProblemError) else "input"
        return _error(422, "validation", _("The problem is malformed: %(error)s", error=str(error)),
                      {field: [str(error)]})
    return jsonify(result_to_json(solve(problem)))
