pytest_plugins = ["tests.support.fixtures"]
pytest_plugins = [*pytest_plugins, "tests.integration.controller_fixtures"]  # controller e2e
pytest_plugins = [*pytest_plugins, "tests.support.leaks"]  # no secret in anything observable
pytest_plugins = [*pytest_plugins, "tests.integration.e2e_backend"]  # stand-in or real cluster
