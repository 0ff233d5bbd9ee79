"""A file the lab writes (its state, certificates, kubeconfig, discovery cache) is replaced whole: a reader finds
the old one or the new one, whoever writes it and however the write ends."""
import threading

import pytest

from lab.atomic_write import write_atomic


def test_threads_writing_one_file_at_once_each_land_whole(tmp_path):
    """A command's threads write one file (the discovery cache of a cluster two steps use): every write
    succeeds and the file is always one of them, never a mix."""
    path = tmp_path / "cache.json"
    texts = [str(n) * (1000 + n) for n in range(8)]
    failures = []

    def write(text: str) -> None:
        for _ in range(50):
            try:
                write_atomic(path, text, 0o644, durable=False)
            except OSError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:1]
    assert path.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "state.json"
    write_atomic(path, "old", 0o600)
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_atomic(tmp_path / "taken", "new", 0o600)  # a folder cannot be replaced by a file
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "taken"]
