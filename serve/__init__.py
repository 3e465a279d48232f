"""Ray Serve application for automl model artifacts (deployment, HTTP schema, auth).

Serving is built in its own issue; this package holds its place in the layout.
"""
