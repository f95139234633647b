"""Menu entries as data: each feature adds its lines here instead of editing the layout.

An entry whose endpoint is not registered is skipped, so the menu never links to a 404.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# (endpoint, label) pairs, in menu order.
PUBLIC_NAV = [
    ("public.index", _l("Home")),
    ("intake.new_demand", _l("Submit a demand")),
    ("intake.lookup", _l("Track a demand")),
]
PUBLIC_ACTIONS = [
    ("intake.new_demand", _l("Submit a demand")),
    ("intake.lookup", _l("Track a demand")),
]
WORKSPACE_NAV = [
    ("coordinator.home", _l("Workspace")),
    ("demands.inbox", _l("Demands")),
    ("pool.craftsmen", _l("Craftsmen")),
    ("rounds.index", _l("Matching rounds")),
    ("engagements.index", _l("Engagements")),
    ("agreements.index", _l("Agreements")),
    ("outcomes.index", _l("Outcomes")),
    ("reports.dashboard", _l("Dashboard")),
    ("admin_tokens.index", _l("API tokens")),
    ("auth.password", _l("Password")),
]
