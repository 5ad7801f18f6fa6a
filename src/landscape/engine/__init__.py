"""The engine layer: Docker images, base bootstrap, compose stacks and launches.

Everything here talks to the Docker Engine (through the Docker SDK for Python) or to the
Compose CLI. Nothing above this layer imports ``docker``.
"""
