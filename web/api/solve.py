"""``POST /api/v1/solve``: the solver for tools, speaking the ``craftmatch solve`` JSON (``matching.io``).

Bearer-token auth (``Authorization: Bearer cm_…``, scope ``solve``), a size limit, and every error in the
app's one JSON error shape: 401 without a valid token, 403 without the scope, 413 when too large, 415 when
not JSON, 400 when the body cannot be read as JSON, 422 naming the bad field.
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
# Far beyond any capacity, slot count, score or priority that means something; small enough that sums stay finite.
MAX_ABS_NUMBER = 1e12


def _error(status: int, code: str, message: str, errors: dict | None = None):
    response = jsonify(error_body(status, code, message, errors))
    response.status_code = status
    return response


@blp.route("/solve", methods=["POST"])
@token_required(blp, "solve")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
         responses={"200": {"description": "The result document of craftmatch solve"},
                    "400": {"description": "The body cannot be read as JSON"},
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
        document = loads_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _error(400, "bad_request", _("The body is not UTF-8 text."))
    except RecursionError:
        return _error(400, "bad_request", _("The request is nested too deeply to be read."))
    except ValueError as error:  # not JSON, NaN/Infinity, a key twice: the document cannot be read
        return _error(400, "bad_request", _("The body is not valid JSON: %(error)s", error=str(error)),
                      {"input": [str(error)]})
    if (where := _first_huge_number(document)) is not None:
        return _error(422, "validation", _("A number in the problem is out of range."),
                      {where: [_("must be between -%(limit)s and %(limit)s", limit=format(MAX_ABS_NUMBER, ".0e"))]})
    try:
        problem = parse_problem(document)
    except ProblemError as error:
        return _error(422, "validation", _("The problem is malformed: %(error)s", error=str(error)),
                      {error.field: [str(error)]})
    return jsonify(result_to_json(solve(problem)))


def _first_huge_number(document) -> str | None:
    """The path of the first number beyond ``MAX_ABS_NUMBER`` (the solver's int64 arrays overflow, and float
    sums of such scores reach infinity), walked without recursion."""
    pending = [("input", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            pending.extend((f"{path}.{key}" if path != "input" else str(key), item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_ABS_NUMBER:
            return path
    return None
