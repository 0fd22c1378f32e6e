"""stamp's local AWS harness: a moto server with an ECS rollout simulation, plus seeding.

Run with the venv made by scripts/emulator install and PYTHONPATH=<repo>/emulator.
"""
