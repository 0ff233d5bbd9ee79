import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "scenarios" in item.path.parts:
            item.add_marker(pytest.mark.scenario)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A file that used the shared lab hands it back serving: once its last test and its own fixtures are torn
    down, west reaches east's foobar through the mirror at once, as the next file on this worker expects
    (its first request is asserted). Checked here, the report names the file that left the link broken, not
    the file that met it."""
    torn_down = yield
    lab = getattr(item, "funcargs", {}).get("lab")
    if lab is not None and nextitem is not None and nextitem.module is not item.module and lab.links():
        link = lab.links()[0]
        answer = lab.cluster(link.source).request(lab.mirror_url("foobar", link.target))
        if not answer.ok:
            raise AssertionError(f"{item.path.name} left the shared lab not serving: a request from {link.source} to "
                                 f"foobar-{link.target} got {answer.describe()}; a test that takes something down must "
                                 f"wait until traffic crosses again before it ends")
    return torn_down
