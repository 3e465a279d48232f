"""Ray clusters: submitting jobs through the Ray Jobs API and following them."""
