"""The run folder's rules for claiming a folder, in core: the CLI and the Python API share them."""

from __future__ import annotations

import json

import pytest

from amalg.core.run_folder import Claim, RunFolder, RunFolderError
from amalg.core.training.build import build_run


def config(**changes):
    values = {"name": "x", "teachers": [{"name": "adam"}], **changes}
    return build_run(values)[0].model_dump(mode="json")


def test_a_free_folder_is_claimed_and_the_same_run_resumed(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.claim(config(), resume=False) is Claim.NEW
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == config()
    assert folder.claim(config(), resume=True) is Claim.RESUME
    with pytest.raises(RunFolderError, match="holds this run, unfinished; --resume continues"):
        folder.claim(config(), resume=False)


def test_a_different_run_is_refused_without_suggesting_a_resume(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.claim(config(), resume=False)
    with pytest.raises(RunFolderError) as caught:
        folder.claim(config(seed=1), resume=False)
    assert "holds a different run" in str(caught.value) and "--resume" not in str(caught.value)
    with pytest.raises(RunFolderError, match="config differs in seed"):
        folder.claim(config(seed=1), resume=True)


def test_a_run_written_by_another_version_is_refused(tmp_path):
    folder = RunFolder(tmp_path / "run")
    old = config()
    old["engine"]["random_scaling"] = 3.0  # where an earlier amalg kept it
    folder.write_config(old)
    for resume in (False, True):
        with pytest.raises(RunFolderError, match=r"cannot read .*another version"):
            folder.claim(config(), resume=resume)


def test_a_folder_of_other_files_is_refused_and_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="is not an amalg run folder"):
        RunFolder(tmp_path / "other").claim(config(), resume=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        RunFolder(tmp_path / "file").claim(config(), resume=False)
    with pytest.raises(RunFolderError, match="nothing to resume"):
        RunFolder(tmp_path / "empty").claim(config(), resume=True)


def test_a_run_written_before_a_setting_existed_is_still_this_run(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.claim(config(), resume=False)
    folder.write_result([], "stage_0.0")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    # Settings added later, at their defaults (the old behaviour), are absent from old runs.
    del saved["engine"]["clip_meta_loss"]
    del saved["meta_optimizer"]["clip_value"]
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    assert folder.claim(config(), resume=False) is Claim.FINISHED
    with pytest.raises(RunFolderError, match="differs in engine"):
        folder.claim(config(engine={"clip_meta_loss": True}), resume=True)
