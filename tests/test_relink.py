"""`./labctl relink`: only forward, to link-gen; the way back and unknown ways are one clear line each."""
import pytest

from lab.model import config
from lab.errors import LabError
from lab.session import Lab


@pytest.mark.parametrize("data, how, words", [
    ({}, "link", "moving back to the deprecated `link` is not supported"),
    ({}, "unlink", "link_with"),
    ({"profile": "seed-2.8"}, "link-gen", "link-gen came with Linkerd 2.18"),
])
def test_relink_refuses_with_the_fix(tmp_path, data, how, words):
    lab = Lab.from_config(config.parse({"name": "relink", **data}), "sim", tmp_path)
    with pytest.raises(LabError) as err:
        lab.relink(how)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / ".lab" / "relink" / "sim").exists(), "a refused relink starts nothing"
