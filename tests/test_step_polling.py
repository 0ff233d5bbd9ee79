"""A step waiting on the simulation looks at its check when the lab process's controllers have made a pass,
not on a clock: `export`'s wait for the first gateway probe costs a few looks, not twenty a second."""
from lab import steps
from lab.steps.export import Export


def test_export_looks_once_per_controller_pass_while_it_waits_for_the_probe(sim_lab, monkeypatch):
    looks = []
    check = Export.check

    def counted(self, ctx, target):
        result = check(self, ctx, target)
        looks.append(result.ok)
        return result

    monkeypatch.setattr(Export, "check", counted)
    steps.up(sim_lab)
    assert looks[-1] and not looks[0], "export applied, then waited for its check"
    # The probe comes one period (1 s here) after the mirror starts watching; a look every 0.05 s would be ~20.
    assert len(looks) <= 8, f"export looked at its check {len(looks)} times while it waited"
