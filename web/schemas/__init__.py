"""Marshmallow schemas: the one contract per input, shared by forms, the API and imports."""
