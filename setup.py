"""Package layout that pyproject.toml alone cannot express.

`migrations/` stays at the repository's top level, where people who run `alembic` look for it,
and ships inside the wheel as the `parley_migrations` package so that an installed `parley`
finds its schema history without a checkout. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["app", "app.*"]), "parley_migrations"],
    package_dir={"parley_migrations": "migrations"},
    package_data={
        "app": ["web/static/*", "web/static/**/*"],
        "parley_migrations": ["script.py.mako", "versions/*.py"],
    },
)
