"""Experiment code that records training runs into data/<topic>/ (`make data`)."""
