"""The LabRecord: what a lab remembers between commands, in one file written whole. A lab brought up by
the previous version (two files, `backend` and `gateway`) reads the same; an unreadable record is none."""
import json
import os

import pytest

from lab.model import config
from lab import record
from lab.model.profiles import DEFAULT_PROFILE
from lab.record import LabRecord
from lab.session import Lab

EVERYTHING = LabRecord(backend="sim", profile="seed-2.8", trust="bundle", installer="helm", gateway="ambassador")


def _files(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_a_record_reads_back_as_written_in_one_file(tmp_path):
    EVERYTHING.write(tmp_path / "lab")
    assert LabRecord.read(tmp_path / "lab") == EVERYTHING
    assert _files(tmp_path / "lab") == [record.RECORD_FILE]
    assert LabRecord.read(tmp_path / "never-up") == LabRecord()


def test_up_records_how_it_ran_and_keeps_the_gateway_switched_to(tmp_path):
    cfg = config.with_flags(config.parse({"name": "unit"}), profile="seed-2.8", trust="bundle", installer="helm")
    LabRecord(backend="sim", gateway="ambassador").write(tmp_path)
    LabRecord.read(tmp_path).ran(cfg, "kind").write(tmp_path)
    assert LabRecord.read(tmp_path) == LabRecord("kind", "seed-2.8", "bundle", "helm", "ambassador")


def _previous_version(state_dir, gateway: str | None = "ambassador\n"):
    """What the previous version left: the backend and flags as JSON in `backend`, the gateway in `gateway`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "backend").write_text(json.dumps({"backend": "sim", "profile": "seed-2.8", "trust": "bundle",
                                                   "installer": "helm"}))
    if gateway is not None:
        (state_dir / "gateway").write_text(gateway)


def test_a_lab_brought_up_by_the_previous_version_is_read_from_its_two_files(tmp_path):
    _previous_version(tmp_path / "lab")
    assert LabRecord.read(tmp_path / "lab") == EVERYTHING
    _previous_version(tmp_path / "unswitched", gateway=None)
    assert LabRecord.read(tmp_path / "unswitched").gateway is None


def test_the_next_write_replaces_the_previous_versions_files_keeping_what_they_said(tmp_path):
    _previous_version(tmp_path)
    LabRecord.read(tmp_path).write(tmp_path)
    assert _files(tmp_path) == [record.RECORD_FILE]
    assert LabRecord.read(tmp_path) == EVERYTHING


def test_lab_open_talks_to_a_lab_the_previous_version_brought_up(tmp_path):
    (tmp_path / "lab.yaml").write_text("name: unit\n")
    _previous_version(tmp_path / ".lab" / "unit")
    lab = Lab.open(None, "auto", tmp_path)
    assert lab.backend.name == "sim" and "is up on sim" in lab.choice.reason
    assert (lab.cfg.profile_name, lab.cfg.trust.mode, lab.cfg.installer, lab.cfg.gateway) == \
        ("seed-2.8", "bundle", "helm", "ambassador")


@pytest.mark.parametrize("content", [b"", b"{\"backend\": \"si", b"[\"sim\"]", b"\xff\xfe not text"])
@pytest.mark.parametrize("file", [record.RECORD_FILE, "backend"])
def test_an_unreadable_record_is_no_record(tmp_path, file, content):
    (tmp_path / file).write_bytes(content)
    assert LabRecord.read(tmp_path) == LabRecord()


def test_values_this_version_does_not_know_are_ignored_and_flags_given_now_win():
    cfg = config.parse({"name": "unit"})
    older = LabRecord(backend="vagrant", profile="seed-1.0", trust="shared", installer="helm", gateway="nginx")
    assert older.apply(cfg) == cfg, "a record from an older lab is ignored, not refused"
    assert (older.apply(cfg, installer="helm").installer, older.apply(cfg).profile_name) == ("helm", DEFAULT_PROFILE)
    applied = EVERYTHING.apply(cfg, profile=DEFAULT_PROFILE, trust="shared")
    assert (applied.profile_name, applied.trust.mode, applied.installer, applied.gateway) == \
        (DEFAULT_PROFILE, "shared", "helm", "ambassador")


def test_an_unknown_backend_reads_as_none(tmp_path):
    (tmp_path / record.RECORD_FILE).write_text(json.dumps({"backend": "vagrant", "profile": "seed-2.8"}))
    assert LabRecord.read(tmp_path) == LabRecord(profile="seed-2.8")


def test_a_write_leaves_no_temporary_file_and_one_cut_short_leaves_the_old_record(tmp_path, monkeypatch):
    LabRecord(backend="sim").write(tmp_path)
    LabRecord(backend="sim", gateway="ambassador").write(tmp_path)
    assert _files(tmp_path) == [record.RECORD_FILE]

    def disk_full(obj, fh):
        fh.write('{"backend": "ki')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record.json, "dump", disk_full)
    with pytest.raises(OSError):
        LabRecord(backend="kind").write(tmp_path)
    assert _files(tmp_path) == [record.RECORD_FILE]
    assert LabRecord.read(tmp_path) == LabRecord(backend="sim", gateway="ambassador")


def test_forget_removes_both_versions_files_and_any_cut_short_write(tmp_path):
    LabRecord(backend="sim").write(tmp_path)
    _previous_version(tmp_path)  # both versions' files side by side
    (tmp_path / f"{record.TEMP_PREFIX}crashed").write_text("{")
    (tmp_path / "sim").mkdir()  # the rest of the lab's state is not the record's
    LabRecord.forget(tmp_path)
    assert _files(tmp_path) == ["sim"]
    LabRecord.forget(tmp_path / "never-up")  # nothing to forget: no error
