"""Validate the numpydoc docstrings of laminarray's public API (run by .ci/run).

Every object in the ``__all__`` of a public module is checked with
numpydoc's ``validate`` for the rules in ``RULES``. Objects that still lack
parameter documentation (PR01) are listed in ``KNOWN_PR01``: a new gap fails,
and so does a listed object that has been fixed (remove it from the list).

Usage: ``python .ci/check_docstrings.py`` (exit status 1 on any failure).
"""

from __future__ import annotations

import importlib
import inspect
import sys

from numpydoc.validate import validate

MODULES = (
    "laminarray",
    "laminarray.archive",
    "laminarray.csd",
    "laminarray.datasets",
    "laminarray.export",
    "laminarray.expression",
    "laminarray.forward",
    "laminarray.inverse",
    "laminarray.io",
    "laminarray.options",
    "laminarray.power",
    "laminarray.rois",
    "laminarray.run",
    "laminarray.schema",
    "laminarray.simulate",
    "laminarray.stats",
    "laminarray.study",
    "laminarray.surf",
    "laminarray.viz",
)
#: GL08 no docstring; PR01 parameter not documented; PR02 documented parameter not
#: in the signature; PR06 type spelled "boolean"/"integer"/"string"; SS01-SS03
#: summary line missing, not starting with a capital, or not ending with a period
#: is not checked (many summaries end with a code span).
RULES = ("GL08", "PR01", "PR02", "PR06")
KNOWN_PR01 = frozenset(
    [
        "laminarray.archive._verify.Problem",
        "laminarray.archive._verify.VerifyReport",
        "laminarray.csd._kcsd.KCSDSettings",
        "laminarray.expression.expression_set.crop",
        "laminarray.expression.expression_set.rename",
        "laminarray.expression.expression_set.source_dims",
        "laminarray.expression.expression_set.validate_expression_set",
        "laminarray.forward.headshape.HeadshapeFit",
        "laminarray.forward.sensors.channel_units",
        "laminarray.forward.sensors.head_fiducials",
        "laminarray.forward.sensors.scalp_surface",
        "laminarray.inverse.settings.InversionSettings",
        "laminarray.io.mne.to_mne_epochs",
        "laminarray.io.mne.to_mne_evoked",
        "laminarray.io.spm_gain.spm_gain_path",
        "laminarray.io.spm_gain.write_spm_gain",
        "laminarray.io.spm_inversion.check_inversion_exists",
        "laminarray.io.spm_inversion.n_inversions",
        "laminarray.io.spm_inversion.read_spm_inversion_mesh",
        "laminarray.power.window_samples",
        "laminarray.rois.roi_mask",
        "laminarray.run.load_config",
        "laminarray.run.summarise",
        "laminarray.run.winning_column",
        "laminarray.schema._vocabulary.layer_depths",
        "laminarray.schema.constructors.source_dataarray",
        "laminarray.schema.validators.check_consistent",
        "laminarray.schema.validators.validate_gain",
        "laminarray.schema.validators.validate_projector",
        "laminarray.schema.validators.validate_source",
        "laminarray.simulate.noise.noise_level",
        "laminarray.study.Study",
        "laminarray.study.Subject",
        "laminarray.surf.geometry.interlayer_distance",
        "laminarray.viz.colors.color_map",
        "laminarray.viz.colors.to_hex",
        "laminarray.viz.interactive.SurfaceView",
        "laminarray.viz.surface.plot_surface",
    ]
)


def public_objects() -> dict[str, object]:
    """Functions and classes of every public module's ``__all__``, by qualified name."""
    found: dict[str, object] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def main() -> int:
    failures = []
    objects = public_objects()
    for qualname in sorted(objects):
        errors = [(code, msg) for code, msg in validate(qualname)["errors"] if code in RULES]
        for code, msg in errors:
            if code == "PR01" and qualname in KNOWN_PR01:
                continue
            failures.append(f"{qualname}: {code} {msg}")
        if qualname in KNOWN_PR01 and not any(code == "PR01" for code, _ in errors):
            failures.append(
                f"{qualname}: documents every parameter now; remove it from KNOWN_PR01"
            )
    for qualname in sorted(KNOWN_PR01 - set(objects)):
        failures.append(f"{qualname}: listed in KNOWN_PR01 but not public; remove it")
    print(f"numpydoc: {len(objects)} public objects, rules {', '.join(RULES)}")
    for line in failures:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
